package anomaly

import (
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Notice is what a [Notifier] is told when an alert group opens: the
// alert, the stored group's id, and the action its rule ran.
type Notice struct {
	// AlertID is the stored group's id, for `scopegate alerts ack`; 0 if
	// the alert could not be stored.
	AlertID   int64
	Rule      string
	Subject   string
	Principal apikey.PrincipalID
	Team      string
	Key       apikey.ID
	Figures   string
	// FirstAt is when the group's first alert tripped.
	FirstAt time.Time
	// Count is how many alerts the group held when the notice was made:
	// 1, since a notice is made when the group opens.
	Count int64
	// Action is the rule's action that ran, such as ActionSuspendKey; ""
	// if none ran.
	Action string
}
