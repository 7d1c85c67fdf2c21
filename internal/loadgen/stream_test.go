package loadgen

import (
	"strings"
	"testing"
)

func TestStreamTailDone(t *testing.T) {
	const chunk = "data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\n"
	tests := []struct {
		name   string
		writes []string
		want   bool
	}{
		{"Complete", []string{chunk, chunk, "data: [DONE]\n\n"}, true},
		{"NoSpace", []string{chunk, "data:[DONE]\n\n"}, true},
		{"CRLF", []string{chunk, "data: [DONE]\r\n\r\n"}, true},
		{"NoTrailingNewline", []string{chunk, "data: [DONE]"}, true},
		{"OnlyDone", []string{"data: [DONE]\n\n"}, true},
		{"SplitAcrossWrites", []string{chunk, "da", "ta: [DO", "NE]", "\n", "\n"}, true},
		{"ByteByByte", strings.Split(chunk+"data: [DONE]\n\n", ""), true},
		{"LongLastWrite", []string{chunk + chunk + "data: [DONE]\n\n"}, true},
		{"CutShort", []string{chunk, chunk}, false},
		{"CutInsideDone", []string{chunk, "data: [DO"}, false},
		{"Empty", nil, false},
		{"DoneInsideContent", []string{"data: {\"content\":\"data: [DONE]\"}\n\n"}, false},
		{"NotAtLineStart", []string{chunk, "xdata: [DONE]\n\n"}, false},
		{"EventAfterDone", []string{"data: [DONE]\n\n", chunk}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s StreamTail
			for _, w := range tt.writes {
				if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := s.Done(); got != tt.want {
				t.Errorf("Done() after %q = %v, want %v", strings.Join(tt.writes, ""), got, tt.want)
			}
		})
	}
}
