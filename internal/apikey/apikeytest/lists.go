package apikeytest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
)

// listTests check filters, order and pagination of Principals and Keys.
func listTests() []test {
	return []test{
		{"KeyFilters", testKeyFilters},
		{"PrincipalFilters", testPrincipalFilters},
		{"KeyPagination", testKeyPagination},
		{"PrincipalPagination", testPrincipalPagination},
	}
}

// fixture is a small population of principals and keys for list tests.
// Ids mix digits, upper and lower case and punctuation, whose byte order
// differs from most locales' collation.
type fixture struct {
	principals []apikey.Principal
	keys       []apikey.Key
	teamOf     map[apikey.PrincipalID]string
}

func seed(t *testing.T, s apikey.Store) fixture {
	t.Helper()
	f := fixture{teamOf: make(map[apikey.PrincipalID]string)}
	for _, p := range []struct {
		id     apikey.PrincipalID
		team   string
		status apikey.PrincipalStatus
	}{
		{"alice@example.com", "red", apikey.PrincipalActive},
		{"Bob", "blue", apikey.PrincipalActive},
		{"svc-billing", "red", apikey.PrincipalDisabled},
		{"_ops", "", apikey.PrincipalActive},
		{"zed", "blue", apikey.PrincipalDisabled},
	} {
		pr := newPrincipal(p.id, p.team)
		pr.Status = p.status
		f.principals = append(f.principals, pr)
		f.teamOf[p.id] = p.team
	}
	mustCreatePrincipals(t, s, f.principals...)
	owners := []apikey.PrincipalID{"alice@example.com", "Bob", "svc-billing", "_ops"}
	statuses := []apikey.Status{apikey.StatusActive, apikey.StatusSuspended, apikey.StatusRevoked}
	for i, id := range []apikey.ID{"0first", "9nine", "Alpha", "Zulu", "_under", "alpha", "bravo", "mike", "Mike",
		"zulu", "a", "aa", "ab", "B"} {
		k := newKey(id, owners[i%len(owners)])
		k.Status = statuses[i%len(statuses)]
		f.keys = append(f.keys, k)
	}
	mustCreateKeys(t, s, f.keys...)
	return f
}

func testKeyFilters(t *testing.T, s apikey.Store) {
	f := seed(t, s)
	tests := []struct {
		name   string
		filter apikey.KeyFilter
		match  func(apikey.Key) bool
		wantN  int // guards against a fixture that makes the test vacuous
	}{
		{"All", apikey.KeyFilter{}, func(apikey.Key) bool { return true }, 14},
		{"Principal", apikey.KeyFilter{Principal: "alice@example.com"},
			func(k apikey.Key) bool { return k.Principal == "alice@example.com" }, 4},
		{"Team", apikey.KeyFilter{Team: "red"},
			func(k apikey.Key) bool { return f.teamOf[k.Principal] == "red" }, 7},
		{"Status", apikey.KeyFilter{Status: apikey.StatusSuspended},
			func(k apikey.Key) bool { return k.Status == apikey.StatusSuspended }, 5},
		{"PrincipalAndStatus", apikey.KeyFilter{Principal: "Bob", Status: apikey.StatusActive},
			func(k apikey.Key) bool { return k.Principal == "Bob" && k.Status == apikey.StatusActive }, 1},
		{"TeamAndStatus", apikey.KeyFilter{Team: "red", Status: apikey.StatusRevoked},
			func(k apikey.Key) bool { return f.teamOf[k.Principal] == "red" && k.Status == apikey.StatusRevoked }, 2},
		{"TeamAndPrincipal", apikey.KeyFilter{Team: "red", Principal: "svc-billing"},
			func(k apikey.Key) bool { return k.Principal == "svc-billing" }, 3},
		{"PrincipalOutsideTeam", apikey.KeyFilter{Team: "blue", Principal: "alice@example.com"},
			func(apikey.Key) bool { return false }, 0},
		{"TeamWithoutKeys", apikey.KeyFilter{Team: "blue", Principal: "zed"},
			func(apikey.Key) bool { return false }, 0},
		{"UnknownTeam", apikey.KeyFilter{Team: "green"}, func(apikey.Key) bool { return false }, 0},
		{"After", apikey.KeyFilter{After: "Mike"},
			func(k apikey.Key) bool { return k.ID > "Mike" }, 9},
		{"AfterMissingID", apikey.KeyFilter{After: "Zebra"},
			func(k apikey.Key) bool { return k.ID > "Zebra" }, 9},
		{"AfterWithTeamAndStatus", apikey.KeyFilter{After: "_under", Team: "red", Status: apikey.StatusActive},
			func(k apikey.Key) bool {
				return k.ID > "_under" && f.teamOf[k.Principal] == "red" && k.Status == apikey.StatusActive
			}, 2},
		{"AfterLast", apikey.KeyFilter{After: "zulu"}, func(apikey.Key) bool { return false }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []apikey.Key
			for _, k := range f.keys {
				if tt.match(k) {
					want = append(want, k)
				}
			}
			slices.SortFunc(want, func(a, b apikey.Key) int { return cmp.Compare(a.ID, b.ID) })
			if len(want) != tt.wantN {
				t.Fatalf("fixture has %d matching keys, test expects %d", len(want), tt.wantN)
			}
			got, err := s.Keys(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("Keys(%+v) = %v", tt.filter, err)
			}
			if d := diff(ids(want, keyID), ids(got.Items, keyID)); d != "" {
				t.Errorf("Keys(%+v) ids (-want +got):\n%s", tt.filter, d)
			}
			if d := diff(want, got.Items); d != "" {
				t.Errorf("Keys(%+v) records (-want +got):\n%s", tt.filter, d)
			}
			if got.Next != "" {
				t.Errorf("Keys(%+v).Next = %q on the only page, want \"\"", tt.filter, got.Next)
			}
		})
	}
}

func testPrincipalFilters(t *testing.T, s apikey.Store) {
	f := seed(t, s)
	tests := []struct {
		name   string
		filter apikey.PrincipalFilter
		match  func(apikey.Principal) bool
		wantN  int
	}{
		{"All", apikey.PrincipalFilter{}, func(apikey.Principal) bool { return true }, 5},
		{"Team", apikey.PrincipalFilter{Team: "blue"},
			func(p apikey.Principal) bool { return p.Team == "blue" }, 2},
		{"Status", apikey.PrincipalFilter{Status: apikey.PrincipalDisabled},
			func(p apikey.Principal) bool { return p.Status == apikey.PrincipalDisabled }, 2},
		{"TeamAndStatus", apikey.PrincipalFilter{Team: "red", Status: apikey.PrincipalActive},
			func(p apikey.Principal) bool { return p.Team == "red" && p.Status == apikey.PrincipalActive }, 1},
		{"UnknownTeam", apikey.PrincipalFilter{Team: "green"}, func(apikey.Principal) bool { return false }, 0},
		{"After", apikey.PrincipalFilter{After: "Bob"},
			func(p apikey.Principal) bool { return p.ID > "Bob" }, 4},
		{"AfterWithTeam", apikey.PrincipalFilter{After: "Bob", Team: "blue"},
			func(p apikey.Principal) bool { return p.ID > "Bob" && p.Team == "blue" }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []apikey.Principal
			for _, p := range f.principals {
				if tt.match(p) {
					want = append(want, p)
				}
			}
			slices.SortFunc(want, func(a, b apikey.Principal) int { return cmp.Compare(a.ID, b.ID) })
			if len(want) != tt.wantN {
				t.Fatalf("fixture has %d matching principals, test expects %d", len(want), tt.wantN)
			}
			got, err := s.Principals(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("Principals(%+v) = %v", tt.filter, err)
			}
			if d := diff(want, got.Items); d != "" {
				t.Errorf("Principals(%+v) (-want +got):\n%s", tt.filter, d)
			}
			if got.Next != "" {
				t.Errorf("Principals(%+v).Next = %q on the only page, want \"\"", tt.filter, got.Next)
			}
		})
	}
}

func testKeyPagination(t *testing.T, s apikey.Store) {
	f := seed(t, s)
	var red []apikey.Key
	for _, k := range f.keys {
		if f.teamOf[k.Principal] == "red" {
			red = append(red, k)
		}
	}
	tests := []struct {
		name   string
		filter apikey.KeyFilter
		want   []string
	}{
		{"All", apikey.KeyFilter{}, sortedIDs(f.keys, keyID)},
		{"Team", apikey.KeyFilter{Team: "red"}, sortedIDs(red, keyID)},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 3, 5, len(tt.want) - 1, len(tt.want), len(tt.want) + 1, 0, -1} {
			t.Run(fmt.Sprintf("%sLimit%d", tt.name, limit), func(t *testing.T) {
				walk(t, tt.want, limit, func(after string) (apikey.Page[apikey.Key], error) {
					f := tt.filter
					f.After, f.Limit = apikey.ID(after), limit
					return s.Keys(t.Context(), f)
				}, keyID)
			})
		}
	}
}

func testPrincipalPagination(t *testing.T, s apikey.Store) {
	f := seed(t, s)
	want := sortedIDs(f.principals, principalID)
	for _, limit := range []int{1, 2, 4, 5, 6, 0} {
		t.Run(fmt.Sprintf("Limit%d", limit), func(t *testing.T) {
			walk(t, want, limit, func(after string) (apikey.Page[apikey.Principal], error) {
				return s.Principals(t.Context(), apikey.PrincipalFilter{After: apikey.PrincipalID(after), Limit: limit})
			}, principalID)
		})
	}
}

// walk lists every page with list, following Next, and checks that the
// pages hold exactly want, in order, each full but the last, with Next set
// to the last id of every page but the last.
func walk[T any](t *testing.T, want []string, limit int, list func(after string) (apikey.Page[T], error), id func(T) string) {
	t.Helper()
	size := apikey.PageSize(limit)
	var got []string
	after := ""
	for pages := 1; ; pages++ {
		if pages > len(want)+1 {
			t.Fatalf("more than %d pages: Next never became empty (got %v)", len(want)+1, got)
		}
		p, err := list(after)
		if err != nil {
			t.Fatalf("page %d after %q: %v", pages, after, err)
		}
		pageIDs := ids(p.Items, id)
		got = append(got, pageIDs...)
		if len(pageIDs) > size {
			t.Errorf("page %d has %d items, more than the limit %d", pages, len(pageIDs), size)
		}
		if p.Next == "" {
			if len(got) < len(want) {
				t.Errorf("page %d ends the list after %d of %d items", pages, len(got), len(want))
			}
			if len(pageIDs) == 0 && len(want) > 0 {
				t.Errorf("page %d is empty: the previous page should have had no Next", pages)
			}
			break
		}
		if len(pageIDs) != size {
			t.Errorf("page %d has %d items and a Next; want a full page of %d", pages, len(pageIDs), size)
		}
		if len(pageIDs) > 0 && p.Next != pageIDs[len(pageIDs)-1] {
			t.Errorf("page %d Next = %q, want its last id %q", pages, p.Next, pageIDs[len(pageIDs)-1])
		}
		after = p.Next
	}
	if d := diff(want, got); d != "" {
		t.Errorf("ids over all pages (-want +got):\n%s", d)
	}
}
