package anomaly

import (
	"context"
	"errors"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// StoredAlert is one alert group as the alert store keeps it: the first
// alert of a rule about a subject, and how often and until when the rule
// tripped again while the group was open.
type StoredAlert struct {
	// ID is the store's, assigned by Insert; it grows with each insert,
	// so it orders alerts by when their group opened.
	ID        int64
	Rule      string
	Subject   string
	Principal apikey.PrincipalID
	// Team is the principal's team when the group opened; it decides
	// which keys:team admins see the alert.
	Team string
	Key  apikey.ID
	// Figures are those of the latest alert of the group.
	Figures string
	// FirstAt is when the group's first alert tripped, LastAt its latest.
	FirstAt time.Time
	LastAt  time.Time
	// Count is how many alerts the group holds, 1 for a lone alert.
	Count int64
	// AckedAt and AckedBy say who acknowledged the alert, and when; zero
	// until someone does.
	AckedAt time.Time
	AckedBy string
}

// Acked reports whether someone acknowledged the alert.
func (a *StoredAlert) Acked() bool { return !a.AckedAt.IsZero() }

// AckState selects alerts by whether they were acknowledged.
type AckState string

// The ack states of a filter.
const (
	AckAny AckState = ""    // acknowledged or not
	AckYes AckState = "yes" // acknowledged
	AckNo  AckState = "no"  // not acknowledged yet
)

// MaxPageSize is the most alerts one List answers.
const MaxPageSize = apikey.MaxPageSize

// AlertFilter selects stored alerts. Empty fields match everything; the
// others must all match, text exactly.
type AlertFilter struct {
	// ID selects the one alert of that id.
	ID        int64
	Rule      string
	Subject   string
	Principal apikey.PrincipalID
	Team      string
	Acked     AckState
	// Since and Until select the groups active in [Since, Until): LastAt
	// at or after Since, FirstAt before Until.
	Since, Until time.Time
	// Before, when not zero, selects alerts with a smaller ID: the cursor
	// of the next page is the ID of the last alert of the previous one.
	Before int64
	// Limit is the most alerts answered; zero or more than MaxPageSize
	// means MaxPageSize.
	Limit int
}

// PageSize returns the number of alerts a List with f answers at most.
func (f *AlertFilter) PageSize() int {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		return MaxPageSize
	}
	return f.Limit
}

// ErrNotFound means no alert has the id asked for, or it is outside the
// caller's reach.
var ErrNotFound = errors.New("alert not found")

// Store keeps alert groups. The sqlite and postgres packages implement it,
// and alerttest.Run checks that they behave alike. Every method is safe for
// concurrent use, also by many processes sharing one database. Times are
// kept to the microsecond and read back in UTC.
type Store interface {
	// Insert stores a new alert group and returns its ID, which is larger
	// than every ID inserted before. The ID, AckedAt and AckedBy of a are
	// ignored: a new group is not acknowledged. A Count below 1 is stored
	// as 1.
	Insert(ctx context.Context, a StoredAlert) (id int64, err error)
	// Touch adds one alert to group id: Count grows by one, LastAt becomes
	// the later of itself and at, and Figures become figures. Concurrent
	// Touches of one group all count. ErrNotFound if there is no such
	// group.
	Touch(ctx context.Context, id int64, at time.Time, figures string) error
	// List returns the alerts f selects, newest group first (by
	// descending ID), at most f.PageSize() of them.
	List(ctx context.Context, f AlertFilter) ([]StoredAlert, error)
	// Ack records that by acknowledged alert id at at, unless someone
	// already did: a second Ack changes nothing. It returns the alert as
	// stored afterwards, so by and at are those of the first Ack.
	// ErrNotFound if there is no such alert.
	Ack(ctx context.Context, id int64, by string, at time.Time) (StoredAlert, error)
}
