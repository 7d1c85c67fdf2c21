package anomaly

import (
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// The rules. Their names are the alert events' ("alert.<rule>"), the
// config's and the metrics' rule label.
const (
	RuleProbing         = "probing"          // missing_scope denials of one key or principal
	RuleCredentialBurst = "credential_burst" // invalid, malformed or revoked keys from one network
	RuleRateSpike       = "rate_spike"       // a key's rate far above its own baseline
	RuleNewNetwork      = "new_network"      // a key used from a network it has not used
	RuleBudget          = "budget"           // a budget threshold crossed (the limiter raises it)
	RuleKeyExpiring     = "key_expiring"     // a key expires within the notice period
	RuleKeyLeaked       = "key_leaked"       // a key reported leaked was revoked (internal/leak)
)

// Alert is one alert: a rule that tripped about a subject.
type Alert struct {
	// Rule is one of the Rule constants.
	Rule string
	// Subject is what the alert is about: "key:<id>", "principal:<id>",
	// or "net:<prefix>" for a client network.
	Subject string
	// Principal is the subject's principal when known ("" for a
	// network); it decides which admins see the alert.
	Principal apikey.PrincipalID
	// Key is the key the alert is about, when it is about one: the key a
	// suspend action suspends.
	Key apikey.ID
	// Figures are what tripped the rule, as space-separated name=value
	// pairs: "denials=12 window=1m0s".
	Figures string
	// At is when the rule tripped: the time of the event that tripped it.
	At time.Time
}
