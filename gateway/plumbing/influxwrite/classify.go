package influxwrite

import (
	"errors"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// Class is what a write's answer means for the records it carried.
type Class int

const (
	// Stored: InfluxDB accepted every record.
	Stored Class = iota
	// Transient: nothing is known to be stored and the same request may
	// succeed later: no answer (connection refused, reset, timeout), 5xx,
	// 429, and 401/403/404 (credentials, permissions, database or bucket:
	// fixed on the server or in the configuration, never a reason to drop
	// data). Retry after Backoff.
	Transient
	// Refused: InfluxDB refused the request (400, 413, 422): sent again it
	// would be refused again. A 400 or 422 that does not come from
	// InfluxDB (no X-Influxdb-* header, no JSON error: a plain HTTP
	// request to an HTTPS port) is Transient. With several records, split the request to
	// find the bad one; a record refused on its own is refused for good.
	Refused
	// Partial: InfluxDB stored some points and dropped others (1.8: 400
	// "partial write: ...", 2.x: 422 with the same words). Points are idempotent, so a request with
	// several records is split as for Refused; a record that gets it on
	// its own is refused for good.
	Partial
)

func (c Class) String() string {
	switch c {
	case Stored:
		return "stored"
	case Transient:
		return "transient"
	case Refused:
		return "refused"
	case Partial:
		return "partial"
	}
	return "unknown"
}

// Permanent reports whether the request is refused for good: Refused or
// Partial.
func (c Class) Permanent() bool { return c == Refused || c == Partial }

// Outcome is a classified answer to one write request.
type Outcome struct {
	Class Class
	// Status is the HTTP status, 0 without an answer.
	Status int
	// RetryAfter is what the server asked to wait (Retry-After), 0 if
	// nothing.
	RetryAfter time.Duration
	// Err is the write's error, nil when stored.
	Err error
}

// Classify sorts the error of a write (nil: stored). A cancelled or
// expired context of the caller is Transient, as is any error that is not
// an HTTP answer.
func Classify(err error) Outcome {
	if err == nil {
		return Outcome{Class: Stored}
	}
	o := Outcome{Class: Transient, Err: err}
	var herr *ihttp.Error
	if !errors.As(err, &herr) || herr.StatusCode == 0 {
		return o
	}
	o.Status = herr.StatusCode
	o.RetryAfter = time.Duration(herr.RetryAfter) * time.Second
	switch o.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		if !fromInfluxDB(herr) {
			// Not InfluxDB judging the data: a plain HTTP request to an
			// HTTPS port, or a proxy. Sent again, once the configuration
			// is right, it is stored.
			return o
		}
		fallthrough
	case http.StatusRequestEntityTooLarge:
		o.Class = Refused
		if strings.Contains(Reason(err), "partial write") {
			o.Class = Partial
		}
	}
	return o
}

// fromInfluxDB reports whether an HTTP answer came from InfluxDB itself:
// 1.x and 2.x name themselves in X-Influxdb-Version or X-Influxdb-Build,
// and every version answers a refused write with a JSON error body. Go's
// TLS server answering a plain HTTP request (400 "Client sent an HTTP
// request to an HTTPS server") does neither.
func fromInfluxDB(herr *ihttp.Error) bool {
	h := herr.Header
	if h.Get("X-Influxdb-Version") != "" || h.Get("X-Influxdb-Build") != "" || h.Get("X-Influxdb-Error") != "" {
		return true
	}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return ct == "application/json"
}

// Reason returns InfluxDB's explanation of a failed write: the message of
// its answer (the error body, else the X-Influxdb-Error header, else the
// status line), or the error's text when there was no answer.
func Reason(err error) string {
	var herr *ihttp.Error
	if errors.As(err, &herr) && herr.StatusCode != 0 {
		if herr.Message != "" {
			return herr.Message
		}
		if h := herr.Header.Get("X-Influxdb-Error"); h != "" {
			return h
		}
		if herr.Code != "" {
			return herr.Code
		}
	}
	return err.Error()
}

// Back-off bounds.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Backoff is the wait before attempt n+1 after n transient failures in a
// row: what the server asked for with Retry-After, else jittered
// exponential, from 50-100 ms after the first failure, doubling, up to
// 5-10 s.
func Backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := minBackoff << min(max(n, 1)-1, 7)
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}
