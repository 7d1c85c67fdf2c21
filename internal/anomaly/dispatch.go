package anomaly

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/audit"
)

// Defaults of a [DispatcherConfig].
const (
	// DefaultGroupWindow is how long a group stays open after its latest
	// alert.
	DefaultGroupWindow = 15 * time.Minute
	// DefaultMaxGroups bounds the groups a Dispatcher remembers: about a
	// megabyte.
	DefaultMaxGroups = 10_000
)

// ActionSuspendKey is the action that suspends the key an alert is about,
// as the system actor. An alert about a principal or a network has no key
// and suspends nothing. `scopegate keys resume` undoes it.
const ActionSuspendKey = "suspend_key"

// The interfaces a Dispatcher uses. Each is declared here, where it is
// used; the audit log, the store adapters, internal/notify, internal/metrics
// and the key issuer provide them.
type (
	// AuditRecorder makes an alert event durable; *audit.Log is one. An
	// error means the alert is not recorded.
	AuditRecorder interface {
		Alert(ctx context.Context, a audit.Alert) error
	}

	// Notifier tells people about an alert, such as by posting it to a
	// webhook. Notify must not block: it queues the notice, or drops it
	// and says so in its own log and metrics.
	Notifier interface {
		Notify(ctx context.Context, n Notice)
	}

	// AlertCounter counts alerts by rule, for metrics. It must not block.
	AlertCounter interface {
		Alert(rule string)
	}

	// KeySuspender suspends a key on behalf of an anomaly rule. reason
	// names the rule ("anomaly.probing"); the suspension is recorded as an
	// admin event whose actor says so. Suspending a suspended key is not
	// an error.
	KeySuspender interface {
		SuspendKey(ctx context.Context, id apikey.ID, reason string) error
	}

	// PrincipalLookup finds a principal, for its team, and a key, for its
	// principal; apikey.Store is one. It returns apikey.ErrNotFound for an
	// unknown one.
	PrincipalLookup interface {
		Principal(ctx context.Context, id apikey.PrincipalID) (apikey.Principal, error)
		Key(ctx context.Context, id apikey.ID) (apikey.Key, error)
	}
)

// DispatcherConfig holds the settings and dependencies of a Dispatcher.
// Audit is required; a nil dependency other than Audit is a part this
// process runs without (no store, no webhook, no metrics, no actions).
type DispatcherConfig struct {
	Audit      AuditRecorder
	Store      Store
	Notifier   Notifier
	Counter    AlertCounter
	Suspender  KeySuspender
	Principals PrincipalLookup
	// Logger receives failures; nil discards.
	Logger *slog.Logger
	// GroupWindow is how long after a group's latest alert a new alert of
	// the same rule and subject still joins it; zero means
	// DefaultGroupWindow.
	GroupWindow time.Duration
	// Actions maps a rule to the action it runs when a group opens:
	// ActionSuspendKey, or "" for none. See ValidateActions.
	Actions map[string]string
	// MaxGroups bounds the groups remembered; zero means
	// DefaultMaxGroups.
	MaxGroups int
	// Now is the clock of alerts raised without a time; nil is time.Now.
	Now func() time.Time
}

// Dispatcher turns alerts into records, notices and actions, grouping the
// repeats: see the package documentation. It is safe for concurrent use.
type Dispatcher struct {
	cfg    DispatcherConfig
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	groups map[string]*group
	lru    *list.List // of *group, the most recently alerted first
}

// group is one open (or recently closed) group of alerts of a rule about a
// subject.
type group struct {
	key  string
	elem *list.Element
	last time.Time // the latest alert's time; guarded by Dispatcher.mu

	// mu serializes the group's store writes. The alert that opens the
	// group holds it until the group is recorded, so later alerts wait
	// for the stored id they update.
	mu     sync.Mutex
	id     int64 // the stored alert, 0 if it could not be stored
	failed bool  // the opening alert could not be recorded
	// owed is set while the rule's action failed: each later alert of
	// the group tries it again, so that a key that keeps misbehaving is
	// suspended as soon as the store answers.
	owed bool
}

// NewDispatcher returns a Dispatcher for cfg. It panics if cfg.Audit is
// nil: every alert is an audit event.
func NewDispatcher(cfg DispatcherConfig) *Dispatcher {
	if cfg.Audit == nil {
		panic("anomaly: NewDispatcher without an audit recorder")
	}
	if cfg.GroupWindow <= 0 {
		cfg.GroupWindow = DefaultGroupWindow
	}
	if cfg.MaxGroups <= 0 {
		cfg.MaxGroups = DefaultMaxGroups
	}
	d := &Dispatcher{cfg: cfg, logger: cfg.Logger, now: cfg.Now, groups: make(map[string]*group), lru: list.New()}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Log attribute keys.
const (
	logKeyRule    = "rule"
	logKeySubject = "subject"
	logKeyKey     = "key"
	logKeyAlertID = "alert_id"
	logKeyAction  = "action"
	logKeyErr     = "err"
)

// Raise handles an alert. The first alert of a rule about a subject opens
// a group: it is recorded in the audit log as "alert.<rule>" (Raise waits
// until it is durable), stored, counted, the rule's action runs, and the
// notifier is told. Later alerts of the same rule and subject, until
// GroupWindow has passed since the group's latest alert, only add to the
// stored group's count. A zero a.At means now.
//
// An error means some part failed; what could be done was done. If the
// audit log refused the alert, nothing else was done and the next alert
// of the subject opens the group again.
func (d *Dispatcher) Raise(ctx context.Context, a Alert) error {
	if !validRule(a.Rule) {
		return fmt.Errorf("anomaly: alert rule %q is not one lowercase word", a.Rule)
	}
	if a.Subject == "" {
		return fmt.Errorf("anomaly: %s alert without a subject", a.Rule)
	}
	if a.At.IsZero() {
		a.At = d.now()
	}
	g, opens := d.join(groupKey(&a), a.At)
	if opens {
		defer g.mu.Unlock() // join locked it
		return d.open(ctx, g, a)
	}
	g.mu.Lock()
	id, failed := g.id, g.failed
	if g.owed && !failed {
		if _, err := d.act(ctx, a); err == nil {
			g.owed = false
		}
	}
	g.mu.Unlock()
	switch {
	case failed:
		// The group's first alert was not recorded, and the group was
		// forgotten: this alert tries to open it again.
		return d.Raise(ctx, a)
	case id == 0 || d.cfg.Store == nil:
		return nil // counted in no store: the first alert could not be stored
	}
	if err := d.cfg.Store.Touch(ctx, id, a.At, a.Figures); err != nil {
		d.logger.ErrorContext(ctx, "alert not added to its group", logKeyRule, a.Rule, logKeySubject, a.Subject,
			logKeyAlertID, id, logKeyErr, err)
		return fmt.Errorf("add %s alert to group %d: %w", a.Rule, id, err)
	}
	return nil
}

// join finds the open group of key at the time at, or opens one. An
// opened group is returned locked, for its opener to record.
func (d *Dispatcher) join(key string, at time.Time) (g *group, opens bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if g = d.groups[key]; g != nil && at.Sub(g.last) < d.cfg.GroupWindow {
		g.last = later(g.last, at)
		d.lru.MoveToFront(g.elem)
		return g, false
	}
	if g != nil {
		d.forget(g)
	}
	d.evict(at)
	g = &group{key: key, last: at}
	g.mu.Lock()
	g.elem = d.lru.PushFront(g)
	d.groups[key] = g
	return g, true
}

// evict forgets the groups that closed before at, and the least recently
// alerted ones past MaxGroups, so that memory stays flat however many
// subjects alert. A group forgotten while open reopens on its next alert.
// The caller holds d.mu.
func (d *Dispatcher) evict(at time.Time) {
	for e := d.lru.Back(); e != nil; e = d.lru.Back() {
		g := e.Value.(*group)
		if at.Sub(g.last) < d.cfg.GroupWindow && d.lru.Len() < d.cfg.MaxGroups {
			return
		}
		d.forget(g)
	}
}

// forget drops g. The caller holds d.mu.
func (d *Dispatcher) forget(g *group) {
	d.lru.Remove(g.elem)
	if d.groups[g.key] == g {
		delete(d.groups, g.key)
	}
}

// Groups returns how many groups the Dispatcher remembers, open or
// recently closed: at most MaxGroups.
func (d *Dispatcher) Groups() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.groups)
}

// open records the first alert of g. The caller holds g.mu.
func (d *Dispatcher) open(ctx context.Context, g *group, a Alert) error {
	ev := audit.Alert{Rule: a.Rule, Subject: a.Subject, Principal: string(a.Principal), Figures: a.Figures}
	if err := d.cfg.Audit.Alert(ctx, ev); err != nil {
		g.failed = true
		d.mu.Lock()
		d.forget(g)
		d.mu.Unlock()
		d.logger.ErrorContext(ctx, "alert not recorded in the audit log", logKeyRule, a.Rule, logKeySubject, a.Subject, logKeyErr, err)
		return fmt.Errorf("record %s alert about %s: %w", a.Rule, a.Subject, err)
	}
	var errs []error
	// The audit event keeps the principal as the event that tripped the
	// rule recorded it (a pseudonym when the log pseudonymizes); the
	// store, which admins read within their reach, gets the key's real
	// principal so that its team and owner see the alert.
	a.Principal = d.owner(ctx, a)
	team := d.team(ctx, a.Principal)
	if d.cfg.Store != nil {
		id, err := d.cfg.Store.Insert(ctx, StoredAlert{Rule: a.Rule, Subject: a.Subject, Principal: a.Principal,
			Team: team, Key: a.Key, Figures: a.Figures, FirstAt: a.At, LastAt: a.At, Count: 1})
		if err != nil {
			d.logger.ErrorContext(ctx, "alert not stored", logKeyRule, a.Rule, logKeySubject, a.Subject, logKeyErr, err)
			errs = append(errs, fmt.Errorf("store %s alert about %s: %w", a.Rule, a.Subject, err))
		}
		g.id = id
	}
	if d.cfg.Counter != nil {
		d.cfg.Counter.Alert(a.Rule)
	}
	action, err := d.act(ctx, a)
	if err != nil {
		g.owed = true
		errs = append(errs, err)
	}
	if d.cfg.Notifier != nil {
		d.cfg.Notifier.Notify(ctx, Notice{AlertID: g.id, Rule: a.Rule, Subject: a.Subject, Principal: a.Principal,
			Team: team, Key: a.Key, Figures: a.Figures, FirstAt: a.At, Count: 1, Action: action})
	}
	return errors.Join(errs...)
}

// owner returns the principal of a's key when it can be found, else a's
// principal.
func (d *Dispatcher) owner(ctx context.Context, a Alert) apikey.PrincipalID {
	if a.Key == "" || d.cfg.Principals == nil {
		return a.Principal
	}
	k, err := d.cfg.Principals.Key(ctx, a.Key)
	if err != nil {
		return a.Principal
	}
	return k.Principal
}

// team returns the team of principal p, or "" if it has none or cannot be
// found: the alert is then visible to admins only.
func (d *Dispatcher) team(ctx context.Context, p apikey.PrincipalID) string {
	if p == "" || d.cfg.Principals == nil {
		return ""
	}
	pr, err := d.cfg.Principals.Principal(ctx, p)
	if err != nil {
		if !errors.Is(err, apikey.ErrNotFound) {
			d.logger.WarnContext(ctx, "alert: principal's team unknown; only admins will see the alert",
				"principal", string(p), logKeyErr, err)
		}
		return ""
	}
	return pr.Team
}

// act runs the action of a's rule and returns the action that ran.
func (d *Dispatcher) act(ctx context.Context, a Alert) (string, error) {
	switch action := d.cfg.Actions[a.Rule]; action {
	case "":
		return "", nil
	case ActionSuspendKey:
		if a.Key == "" {
			return "", nil // about a principal or a network: no key to suspend
		}
		if d.cfg.Suspender == nil {
			d.logger.ErrorContext(ctx, "alert action not run: no key suspender", logKeyRule, a.Rule, logKeyKey, string(a.Key))
			return "", fmt.Errorf("%s action of rule %s: no key suspender", action, a.Rule)
		}
		if err := d.cfg.Suspender.SuspendKey(ctx, a.Key, SuspendReason(a.Rule)); err != nil {
			d.logger.ErrorContext(ctx, "alert action failed", logKeyRule, a.Rule, logKeyAction, action,
				logKeyKey, string(a.Key), logKeyErr, err)
			return "", fmt.Errorf("%s action of rule %s on key %s: %w", action, a.Rule, a.Key, err)
		}
		d.logger.InfoContext(ctx, "alert action: key suspended", logKeyRule, a.Rule, logKeyKey, string(a.Key))
		return action, nil
	default:
		d.logger.ErrorContext(ctx, "alert action unknown; nothing done", logKeyRule, a.Rule, logKeyAction, action)
		return "", fmt.Errorf("rule %s: unknown action %q", a.Rule, action)
	}
}

// SuspendReason is the reason a suspend_key action of rule gives its
// KeySuspender: "anomaly.<rule>".
func SuspendReason(rule string) string { return "anomaly." + rule }

// Alert raises a, an alert the limiter made (a budget threshold crossed),
// through Raise, so that it is grouped, stored and notified like the
// detectors' alerts. It implements the proxy's AlertRecorder. A subject
// "key:<id>" is about that key.
func (d *Dispatcher) Alert(ctx context.Context, a audit.Alert) error {
	al := Alert{Rule: a.Rule, Subject: a.Subject, Principal: apikey.PrincipalID(a.Principal), Figures: a.Figures, At: d.now()}
	if id, ok := strings.CutPrefix(a.Subject, "key:"); ok {
		// A per-feature budget's subject is "key:<id>/feature:<name>".
		id, _, _ = strings.Cut(id, "/")
		al.Key = apikey.ID(id)
	}
	return d.Raise(ctx, al)
}

// groupKey identifies the group of a: its rule and subject. The limiter
// raises each threshold of each budget window once, so a budget alert's
// group is also keyed by the budget's kind, threshold and window: crossing
// 80% and then 100% of a budget are two alerts.
func groupKey(a *Alert) string {
	parts := []string{a.Rule, a.Subject}
	if a.Rule == RuleBudget {
		for _, name := range []string{"kind", "threshold_pct", "window"} {
			parts = append(parts, figure(a.Figures, name))
		}
	}
	return strings.Join(parts, "\x00")
}

// figure returns the value of name in space-separated name=value figures.
func figure(figures, name string) string {
	for f := range strings.FieldsSeq(figures) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// validRule reports whether rule can name an alert event: one word of
// a-z, 0-9 and _, starting with a letter, at most 32 bytes.
func validRule(rule string) bool {
	if rule == "" || len(rule) > 32 || rule[0] < 'a' || rule[0] > 'z' {
		return false
	}
	for i := range len(rule) {
		if c := rule[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// actionRules returns the rules an action may be configured for.
func actionRules() []string {
	return []string{RuleProbing, RuleCredentialBurst, RuleRateSpike, RuleNewNetwork, RuleBudget, RuleKeyExpiring, RuleKeyLeaked}
}

// ValidateActions checks the per-rule actions of a configuration: each
// rule must be a known rule and each action ActionSuspendKey or "" (none).
// A typo would otherwise leave a rule silently without its action.
func ValidateActions(actions map[string]string) error {
	rules := actionRules()
	for _, rule := range slices.Sorted(maps.Keys(actions)) {
		action := actions[rule]
		if !slices.Contains(rules, rule) {
			return fmt.Errorf("actions: unknown rule %q; rules are %s", rule, strings.Join(rules, ", "))
		}
		if action != "" && action != ActionSuspendKey {
			return fmt.Errorf("actions: rule %s: unknown action %q; the only action is %s", rule, action, ActionSuspendKey)
		}
		if action == ActionSuspendKey && (rule == RuleKeyExpiring || rule == RuleCredentialBurst || rule == RuleKeyLeaked) {
			// An expiring key has done nothing wrong, a credential burst
			// is about a network, not a key, and a leaked key is already
			// revoked.
			return fmt.Errorf("actions: rule %s: %s does not apply to it", rule, action)
		}
	}
	return nil
}
