package topic_test

import (
	"errors"
	"fmt"

	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

func ExampleParse() {
	t, err := topic.Parse(topic.Data("suzhou-eip", "gw-1", "chp-1"))
	fmt.Println(t.Kind, t.Park, t.Gateway, t.Device, err)

	t, _ = topic.Parse("eip/v1/suzhou-eip/metrics/steam_power_mw.t01")
	fmt.Println(t.Kind, t.Metric, t.Entity)

	_, err = topic.Parse("eip/v1/suzhou-eip/gw 1/chp-1")
	fmt.Println(errors.Is(err, topic.ErrName))
	fmt.Println(err)
	// Output:
	// data suzhou-eip gw-1 chp-1 <nil>
	// metrics steam_power_mw t01
	// true
	// topic "eip/v1/suzhou-eip/gw 1/chp-1": level 4 (gateway): invalid name: "gw 1": use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit
}
