package scope

import "fmt"

// SyntaxError is the error Parse returns for text that is not a scope.
type SyntaxError struct {
	// Scope is the text that did not parse.
	Scope string
	// Reason says what is wrong, for people.
	Reason string
}

func syntaxError(s, reason string) error {
	if len(s) > MaxLen+8 {
		s = s[:MaxLen] + "…"
	}
	return &SyntaxError{Scope: s, Reason: reason}
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid scope %q: %s", e.Scope, e.Reason)
}
