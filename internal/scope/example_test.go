package scope_test

import (
	"fmt"

	"github.com/scopegate/scopegate/internal/scope"
)

// ExampleParse shows the scope grammar: a feature, optionally followed by
// ":" and a resource pattern, which is "*" (every resource), an exact name,
// or a prefix ending in "*". Features are lower-case; resources keep their
// provider's spelling, including upper case, "/" and ":".
func ExampleParse() {
	for _, in := range []string{
		"chatbot",                           // the whole feature
		"chatbot:*",                         // the same, printed as "chatbot"
		"chatbot:gpt-4o-mini",               // one resource, matched exactly
		"code-generation:claude-sonnet-4-*", // every resource with this prefix
		"openrouter:openai/gpt-4o",          // resources may hold '/' and ':'
		"Chatbot",                           // feature names are lower-case
		"chatbot:gpt*4o",                    // '*' only at the end
		"chatbot:",                          // a ':' needs a resource
	} {
		s, err := scope.Parse(in)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-34s feature=%s resource=%s\n", s, s.Feature, s.Resource)
	}
	// Output:
	// chatbot                            feature=chatbot resource=*
	// chatbot                            feature=chatbot resource=*
	// chatbot:gpt-4o-mini                feature=chatbot resource=gpt-4o-mini
	// code-generation:claude-sonnet-4-*  feature=code-generation resource=claude-sonnet-4-*
	// openrouter:openai/gpt-4o           feature=openrouter resource=openai/gpt-4o
	// invalid scope "Chatbot": feature name "Chatbot": character 'C' at position 1: feature names are lower-case letters, digits, '.', '_' and '-', starting with a letter or digit
	// invalid scope "chatbot:gpt*4o": resource "gpt*4o": '*' is allowed only at the end
	// invalid scope "chatbot:": missing resource after ':' (use 'feature' or 'feature:*' for every resource)
}

// ExampleSet_Allows shows how a request is checked: a feature and the
// resource it asks for.
func ExampleSet_Allows() {
	keys := scope.MustParseSet("chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*")
	fmt.Println(keys.Allows("chatbot", "gpt-4o-mini"))
	fmt.Println(keys.Allows("chatbot", "gpt-4o"))
	fmt.Println(keys.Allows("code-generation", "claude-sonnet-4-20250514"))
	fmt.Println(keys.Allows("data-retrieval", "hr-docs"))
	// Output:
	// true
	// false
	// true
	// false
}

// ExampleSet_Intersect narrows a key's scopes by its principal's ceiling,
// as every request does: what is left is what both grant.
func ExampleSet_Intersect() {
	key := scope.MustParseSet("chatbot", "code-generation:claude-*", "data-retrieval:hr-docs")
	ceiling := scope.MustParseSet("chatbot:gpt-4o-mini", "code-generation:claude-sonnet-4-*", "embeddings")
	fmt.Println(key.Intersect(ceiling))
	fmt.Println(key.Within(ceiling), key.Outside(ceiling))
	// Output:
	// chatbot:gpt-4o-mini code-generation:claude-sonnet-4-*
	// false [chatbot code-generation:claude-* data-retrieval:hr-docs]
}
