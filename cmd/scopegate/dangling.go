package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/scope"
)

// danglingScopes returns one line for every data scope in store that cfg
// does not serve: a scope naming a feature the config no longer declares,
// or a resource its feature no longer serves. Such a scope grants nothing,
// so a config change that leaves one behind has silently taken access away
// from someone; "config check" reports the lines and serve logs them.
//
// It reads principals' ceilings and the scopes of keys that are not
// revoked: a revoked key can never be used again, so revoking is one way
// to clear a line, narrowing the scopes is the other. Admin roles are not
// the config's business and are skipped. Lines come in store order,
// principals first, like:
//
//	principal alice: scope "chat:gpt-5" names a resource that feature "chat" does not serve (…)
//	key AbCdEfGhIjKlMnOp (principal alice): scope "chat:gpt-5" names …
func danglingScopes(ctx context.Context, store apikey.Store, cfg *config.Config) ([]string, error) {
	var out []string
	err := eachPage(func(after string) (apikey.Page[apikey.Principal], error) {
		return store.Principals(ctx, apikey.PrincipalFilter{After: apikey.PrincipalID(after)})
	}, func(p apikey.Principal) {
		for _, msg := range unservedScopes(cfg, p.Ceiling) {
			out = append(out, fmt.Sprintf("principal %s: %s", p.ID, msg))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	err = eachPage(func(after string) (apikey.Page[apikey.Key], error) {
		return store.Keys(ctx, apikey.KeyFilter{After: apikey.ID(after)})
	}, func(k apikey.Key) {
		if k.Status == apikey.StatusRevoked {
			return
		}
		for _, msg := range unservedScopes(cfg, k.Scopes) {
			out = append(out, fmt.Sprintf("key %s (principal %s): %s", k.ID, k.Principal, msg))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// unservedScopes returns why each data scope of set is not served by cfg,
// one message per scope, such as `scope "chat:gpt-5" names a resource that
// feature "chat" does not serve (…)`.
func unservedScopes(cfg *config.Config, set scope.Set) []string {
	var out []string
	for _, s := range set.Scopes() {
		if apikey.IsRole(s) {
			continue
		}
		err := cfg.CheckScopes(scope.NewSet(s))
		if err == nil {
			continue
		}
		// The config's message starts with what its sentinel says, which
		// the line's wording already conveys.
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, config.ErrDanglingScope.Error()+": "); ok {
			msg = "scope " + rest
		}
		out = append(out, msg)
	}
	return out
}

// eachPage calls fn on every item of a paged list, fetching the page after
// each cursor until the last.
func eachPage[T any](fetch func(after string) (apikey.Page[T], error), fn func(T)) error {
	cursor := ""
	for {
		page, err := fetch(cursor)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			fn(it)
		}
		if page.Next == "" {
			return nil
		}
		if page.Next == cursor {
			// A store bug must not turn into an endless loop.
			return fmt.Errorf("the store answered cursor %q with itself", cursor)
		}
		cursor = page.Next
	}
}
