package apikey

import "testing"

func TestPageSize(t *testing.T) {
	tests := []struct{ limit, want int }{
		{-1, MaxPageSize}, {0, MaxPageSize}, {1, 1}, {50, 50}, {MaxPageSize, MaxPageSize}, {MaxPageSize + 1, MaxPageSize},
	}
	for _, tt := range tests {
		if got := PageSize(tt.limit); got != tt.want {
			t.Errorf("PageSize(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}
