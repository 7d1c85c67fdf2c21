package anomaly_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/scope"
)

// fakeRecorder keeps the changes recorded, or fails with err.
type fakeRecorder struct {
	mu      sync.Mutex
	err     error
	changes []apikey.Change
}

func (f *fakeRecorder) Record(_ context.Context, c apikey.Change) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.changes = append(f.changes, c)
	return nil
}

func (f *fakeRecorder) got() []apikey.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

// The actors of the inbox tests: alice and bob are in team red, carol in
// blue.
var (
	rootActor  = apikey.Actor{Principal: "root", Team: "ops", KeyID: "KeyRoot000000000", Roles: scope.NewSet(apikey.RoleAdmin)}
	bobActor   = apikey.Actor{Principal: "bob", Team: "red", KeyID: "KeyBob0000000000", Roles: scope.NewSet(apikey.RoleKeysTeam)}
	aliceActor = apikey.Actor{Principal: "alice", Team: "red", KeyID: "KeyAlice00000000", Roles: scope.NewSet(apikey.RoleKeysSelf)}
	noTeam     = apikey.Actor{Principal: "dan", KeyID: "KeyDan0000000000", Roles: scope.NewSet(apikey.RoleKeysTeam)}
	noRole     = apikey.Actor{Principal: "eve", Team: "red", KeyID: "KeyEve0000000000"}
)

// inboxRig is an Inbox on a store holding four alerts, ids 1 to 4:
//
//	1 credential_burst  net:10.1.2.0/24   (no principal)
//	2 probing           key:A             alice  red
//	3 probing           principal:bob     bob    red
//	4 rate_spike        key:C             carol  blue
type inboxRig struct {
	in       *anomaly.Inbox
	store    anomaly.Store
	recorder *fakeRecorder
	canErr   error
}

func newInboxRig(t *testing.T) *inboxRig {
	t.Helper()
	r := &inboxRig{store: newStore(t), recorder: &fakeRecorder{}}
	for _, a := range []anomaly.StoredAlert{
		{Rule: "credential_burst", Subject: "net:10.1.2.0/24", FirstAt: t0, LastAt: t0},
		{Rule: "probing", Subject: "key:KeyA000000000000", Principal: "alice", Team: "red", Key: "KeyA000000000000", FirstAt: t0, LastAt: t0},
		{Rule: "probing", Subject: "principal:bob", Principal: "bob", Team: "red", FirstAt: t0, LastAt: t0},
		{Rule: "rate_spike", Subject: "key:KeyC000000000000", Principal: "carol", Team: "blue", Key: "KeyC000000000000", FirstAt: t0, LastAt: t0},
	} {
		if _, err := r.store.Insert(t.Context(), a); err != nil {
			t.Fatalf("Insert = %v", err)
		}
	}
	r.in = anomaly.NewInbox(anomaly.InboxConfig{Store: r.store, Recorder: r.recorder,
		CanRecord: func() error { return r.canErr }, Now: func() time.Time { return t0.Add(time.Hour + 1500) }})
	return r
}

func listIDs(t *testing.T, in *anomaly.Inbox, a apikey.Actor, f anomaly.AlertFilter) ([]int64, string) {
	t.Helper()
	page, err := in.List(t.Context(), a, f)
	if err != nil {
		t.Fatalf("List as %s = %v", a, err)
	}
	var ids []int64
	for _, s := range page.Items {
		ids = append(ids, s.ID)
	}
	return ids, page.Next
}

// TestInboxReach checks who sees which alerts: an admin all, a team admin
// its team's, a self admin its own; alerts about no principal are for
// admins only.
func TestInboxReach(t *testing.T) {
	r := newInboxRig(t)
	for _, tt := range []struct {
		name  string
		actor apikey.Actor
		f     anomaly.AlertFilter
		want  []int64
	}{
		{"Admin", rootActor, anomaly.AlertFilter{}, []int64{4, 3, 2, 1}},
		{"AdminFilter", rootActor, anomaly.AlertFilter{Team: "blue"}, []int64{4}},
		{"Team", bobActor, anomaly.AlertFilter{}, []int64{3, 2}},
		{"TeamOwnFilter", bobActor, anomaly.AlertFilter{Team: "red", Principal: "alice"}, []int64{2}},
		{"TeamOtherTeam", bobActor, anomaly.AlertFilter{Team: "blue"}, nil},
		{"TeamOtherPrincipal", bobActor, anomaly.AlertFilter{Principal: "carol"}, nil},
		{"TeamWithoutTeam", noTeam, anomaly.AlertFilter{}, nil},
		{"Self", aliceActor, anomaly.AlertFilter{}, []int64{2}},
		{"SelfOther", aliceActor, anomaly.AlertFilter{Principal: "bob"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := listIDs(t, r.in, tt.actor, tt.f)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("List ids (-want +got):\n%s", d)
			}
		})
	}
	if _, err := r.in.List(t.Context(), noRole, anomaly.AlertFilter{}); !errors.Is(err, apikey.ErrForbidden) {
		t.Errorf("List without a role = %v, want apikey.ErrForbidden", err)
	}
}

func TestInboxPages(t *testing.T) {
	r := newInboxRig(t)
	ids, next := listIDs(t, r.in, rootActor, anomaly.AlertFilter{Limit: 3})
	if d := cmp.Diff([]int64{4, 3, 2}, ids); d != "" || next != "2" {
		t.Errorf("first page: ids %v next %q, want [4 3 2] next \"2\"", ids, next)
	}
	ids, next = listIDs(t, r.in, rootActor, anomaly.AlertFilter{Limit: 3, Before: 2})
	if d := cmp.Diff([]int64{1}, ids); d != "" || next != "" {
		t.Errorf("second page: ids %v next %q, want [1] and no next", ids, next)
	}
	// A page that is exactly full has no next.
	if _, next = listIDs(t, r.in, rootActor, anomaly.AlertFilter{Limit: 4}); next != "" {
		t.Errorf("a full last page has next %q, want none", next)
	}
}

// TestInboxAck checks an acknowledgement: stored with who and when,
// recorded as an admin event once, answered the same when repeated.
func TestInboxAck(t *testing.T) {
	r := newInboxRig(t)
	got, err := r.in.Ack(t.Context(), bobActor, 2)
	if err != nil {
		t.Fatalf("Ack = %v", err)
	}
	at := t0.Add(time.Hour + time.Microsecond)
	if got.AckedBy != "bob/KeyBob0000000000" || !got.AckedAt.Equal(at) || got.ID != 2 {
		t.Errorf("Ack answered %+v, want alert 2 acked by bob/KeyBob0000000000 at %v", got, at)
	}
	want := []apikey.Change{{Action: "alert_group.ack", Actor: "bob/KeyBob0000000000", Target: "2", Principal: "alice",
		Fields: []apikey.FieldChange{
			{Name: "acked_at", After: "2026-11-28T13:00:00Z"},
			{Name: "acked_by", After: "bob/KeyBob0000000000"},
		}}}
	if d := cmp.Diff(want, r.recorder.got()); d != "" {
		t.Errorf("recorded changes (-want +got):\n%s", d)
	}
	// Again, by someone else: the first ack stands, nothing is recorded.
	again, err := r.in.Ack(t.Context(), rootActor, 2)
	if err != nil {
		t.Fatalf("second Ack = %v", err)
	}
	if again.AckedBy != got.AckedBy || len(r.recorder.got()) != 1 {
		t.Errorf("second Ack answered acked by %q and recorded %d changes; want %q and 1", again.AckedBy, len(r.recorder.got()), got.AckedBy)
	}
	if ids, _ := listIDs(t, r.in, rootActor, anomaly.AlertFilter{Acked: anomaly.AckNo}); !slices.Equal(ids, []int64{4, 3, 1}) {
		t.Errorf("unacked after one ack: %v, want [4 3 1]", ids)
	}
}

// TestInboxAckReach checks that an alert outside the caller's reach is
// not found, and stays unacknowledged.
func TestInboxAckReach(t *testing.T) {
	r := newInboxRig(t)
	for _, tt := range []struct {
		name  string
		actor apikey.Actor
		id    int64
	}{
		{"TeamOtherTeam", bobActor, 4},
		{"TeamNetwork", bobActor, 1},
		{"SelfOther", aliceActor, 3},
		{"Unknown", rootActor, 99},
		{"Zero", rootActor, 0},
		{"Negative", rootActor, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.in.Ack(t.Context(), tt.actor, tt.id); !errors.Is(err, anomaly.ErrNotFound) {
				t.Errorf("Ack(%d) as %s = %v, want anomaly.ErrNotFound", tt.id, tt.actor, err)
			}
		})
	}
	if _, err := r.in.Ack(t.Context(), noRole, 2); !errors.Is(err, apikey.ErrForbidden) {
		t.Errorf("Ack without a role = %v, want apikey.ErrForbidden", err)
	}
	if ids, _ := listIDs(t, r.in, rootActor, anomaly.AlertFilter{Acked: anomaly.AckYes}); len(ids) != 0 || len(r.recorder.got()) != 0 {
		t.Errorf("refused acks acked %v and recorded %d changes", ids, len(r.recorder.got()))
	}
	if _, err := r.in.Ack(t.Context(), aliceActor, 2); err != nil {
		t.Errorf("Ack of its own alert as keys:self = %v", err)
	}
}

// TestInboxAckUnrecorded checks that an ack the audit log could not record
// is refused before anything changes.
func TestInboxAckUnrecorded(t *testing.T) {
	r := newInboxRig(t)
	r.canErr = errors.New("audit log failed")
	if _, err := r.in.Ack(t.Context(), rootActor, 2); !errors.Is(err, apikey.ErrUnrecorded) {
		t.Errorf("Ack with the audit log down = %v, want apikey.ErrUnrecorded", err)
	}
	if ids, _ := listIDs(t, r.in, rootActor, anomaly.AlertFilter{Acked: anomaly.AckYes}); len(ids) != 0 {
		t.Errorf("a refused ack acked %v", ids)
	}
	// A recorder failing after the ack is reported.
	r.canErr, r.recorder.err = nil, errors.New("disk full")
	if _, err := r.in.Ack(t.Context(), rootActor, 2); err == nil {
		t.Errorf("Ack whose record failed = nil, want an error")
	}
}
