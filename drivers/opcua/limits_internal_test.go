package opcua

import (
	"fmt"
	"testing"
)

func TestSpans(t *testing.T) {
	for _, tt := range []struct {
		n, limit int
		want     string
	}{
		{250, 0, "[[0 250]]"},
		{250, 250, "[[0 250]]"},
		{250, 1000, "[[0 250]]"},
		{250, 100, "[[0 100] [100 200] [200 250]]"},
		{3, 1, "[[0 1] [1 2] [2 3]]"},
		{0, 10, "[[0 0]]"},
	} {
		if got := fmt.Sprint(spans(nil, tt.n, tt.limit)); got != tt.want {
			t.Errorf("spans(%d, %d) = %s, want %s", tt.n, tt.limit, got, tt.want)
		}
	}
}

func TestLimitsWithin(t *testing.T) {
	published := opLimits{read: 1000, translate: 0, monitor: 500}
	learned := opLimits{read: 125, translate: 63, monitor: 0}
	if got, want := published.within(learned), (opLimits{read: 125, translate: 63, monitor: 500}); got != want {
		t.Errorf("within = %+v, want %+v", got, want)
	}
	if got := published.within(opLimits{}); got != published {
		t.Errorf("nothing learned: %+v, want %+v", got, published)
	}
}
