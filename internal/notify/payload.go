package notify

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
)

// Payload is the JSON body of a webhook POST. Text is one line for people
// (Slack shows it as the message); the other fields are for programs.
// Fields are added, never renamed or removed.
type Payload struct {
	Text      string `json:"text"`
	Rule      string `json:"rule"`
	Subject   string `json:"subject"`
	Principal string `json:"principal"`
	Team      string `json:"team"`
	Key       string `json:"key"`
	Figures   string `json:"figures"`
	// FirstAt is when the alert group's first alert tripped, RFC 3339 in
	// UTC.
	FirstAt time.Time `json:"first_at"`
	Count   int64     `json:"count"`
	// AlertID is the id to acknowledge the alert with; 0 if it could not
	// be stored.
	AlertID int64 `json:"alert_id"`
	// Action is the action the rule ran ("suspend_key"), or "".
	Action string `json:"action"`
}

// payload returns the body posted for n.
func payload(n anomaly.Notice) ([]byte, error) {
	return json.Marshal(Payload{Text: text(n), Rule: n.Rule, Subject: n.Subject, Principal: string(n.Principal),
		Team: n.Team, Key: string(n.Key), Figures: n.Figures, FirstAt: n.FirstAt.UTC(), Count: n.Count,
		AlertID: n.AlertID, Action: n.Action})
}

// text is the notice as one line, in Slack's mrkdwn: what tripped, about
// whom, the figures, what was done, and how to acknowledge or undo it.
//
//	scopegate alert probing on key:AbC… (principal alice@example.com): denials=12 window=1m0s. Key suspended: undo with `scopegate keys resume AbC…`. Acknowledge with `scopegate alerts ack 42`.
func text(n anomaly.Notice) string {
	var b strings.Builder
	b.WriteString("scopegate alert *" + n.Rule + "* on " + n.Subject)
	if n.Principal != "" {
		b.WriteString(" (principal " + string(n.Principal) + ")")
	}
	if n.Figures != "" {
		b.WriteString(": " + n.Figures)
	}
	b.WriteString(".")
	if n.Action == anomaly.ActionSuspendKey {
		b.WriteString(" Key suspended: undo with `scopegate keys resume " + string(n.Key) + "`.")
	}
	if n.AlertID != 0 {
		b.WriteString(" Acknowledge with `scopegate alerts ack " + strconv.FormatInt(n.AlertID, 10) + "`.")
	}
	return slackEscape(oneLine(b.String()))
}

// oneLine replaces line breaks and other control characters, which no
// field should hold, so the text stays one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// slackEscape escapes the three characters Slack reads as markup: &, <
// and >.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
