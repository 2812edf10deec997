package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gmodbus "github.com/goburrow/modbus"
	"github.com/goburrow/serial"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/drivers"
)

// Quality is the contract's quality vocabulary (package drivers).
type Quality = drivers.Quality

// The qualities a Modbus read yields.
const (
	Good       = drivers.Good
	Timeout    = drivers.Timeout
	CommError  = drivers.CommError
	OutOfRange = drivers.OutOfRange
)

// ExceptionQuality is the quality of a point whose read got Modbus exception
// code.
func ExceptionQuality(code byte) Quality { return drivers.Exception(code) }

// Reading is one point of one poll. Value is meaningful only when Quality is
// Good; a string point carries Text instead.
//
// A point read exactly as an integer (see Point.ValueKind) also carries its
// exact value: Kind is IntValue with Int set, or UintValue with Uint set, and
// Value holds the nearest float64 for consumers that compute with it.
type Reading struct {
	Point *Point
	Value float64
	Int   int64
	Uint  uint64
	Kind  ValueKind
	Text  string
	// Quality says whether the value is usable.
	Quality Quality
}

// Device is one configured device with its profile and request plan.
type Device struct {
	Name     string
	Kind     string
	Tenant   string
	Unit     byte
	Interval time.Duration
	// Timeout is the response timeout of each request; 0 takes the bus's.
	Timeout time.Duration
	Profile *Profile

	plan []Read // the profile's reads; split changes only this copy
	// vals and quals hold the latest reading of each numeric point, by
	// slot, in 10 bytes and without pointers: the value's bits (see
	// Point.decodeBits) and its quality. The sink receives them in the
	// contract's form (80 bytes a reading) in a buffer lent for the call
	// (readingBufs), so that form is held for the polls being handed
	// over, not for every point of every device.
	vals    []uint64
	quals   []qcode
	texts   []textReading // the string points' latest readings
	numeric int           // len(vals)
	// readings is each numeric point's good reading without its value,
	// by slot: the profile's, shared by its devices, read-only.
	readings []drivers.Reading
	slot     []int // profile point index -> vals index; numeric+i for texts[i] (the profile's)
	regs     []uint16

	// Scheduling, owned by the bus.
	failures     int       // consecutive polls the device did not answer
	backoffUntil time.Time // polls before it are not sent
	lastFailure  Quality
	lastErr      error
	busy         []int // plan indexes answered with exception 6, to retry
	busyAttempt  int
	retryAt      time.Time
	work         []int
	// silent is the quality of the poll's reads when the device did not
	// answer its previous poll, has answered none of this one's yet and
	// the last went unanswered (a timeout, or exception 10 or 11 from a
	// gateway); qNone otherwise.
	// The poll's other reads are then not sent (run).
	silent       qcode
	answeredPoll bool // the device answered a read of this poll
	polled       time.Time
	rejected     map[uint32]byte // reads refused as misconfigured, logged once

	mu    sync.Mutex
	state DeviceState
}

// DeviceState is how a device has been answering, for status pages and
// alerts. It is safe to read while the bus runs.
type DeviceState struct {
	// Up is true while the device answers (with data or exceptions).
	Up bool
	// Since is when Up last changed (the first poll counts as a change).
	Since time.Time
	// LastPoll is the start of the latest poll that went to the device.
	LastPoll time.Time
	// LastError describes the latest failed request: device, unit,
	// register and cause. Empty once a poll succeeded fully.
	LastError string
	// Failures counts consecutive polls without an answer.
	Failures int
	// BackoffUntil is set while the device is backed off: its polls until
	// then are not sent and read as the quality of its last failure.
	BackoffUntil time.Time
	// Polls, Answered and Skipped count polls: every poll, polls the
	// device answered, polls skipped by the back-off.
	Polls, Answered, Skipped uint64
	// Missed counts poll slots that passed while an earlier poll on the
	// bus still ran: polls never made.
	Missed uint64
}

// State returns the device's current state.
func (d *Device) State() DeviceState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// NewDevice binds a device's configuration to its profile and plans its
// reads.
func NewDevice(cfg config.Device, p *Profile) *Device {
	plan, slot, numeric, readings := p.plan, p.slot, p.numeric, p.readings
	if plan == nil { // a profile not made by ParseProfile
		plan = p.Plan()
		slot, numeric = p.slots()
		readings = p.goodReadings(numeric)
	}
	d := &Device{
		Name: cfg.Name, Kind: p.Kind, Tenant: cfg.Tenant, Unit: byte(cfg.Unit),
		Interval: cfg.Interval, Timeout: cfg.Timeout, Profile: p, plan: slices.Clone(plan),
		slot: slot, numeric: numeric, readings: readings,
		vals:     make([]uint64, numeric),
		quals:    make([]qcode, numeric),
		texts:    make([]textReading, len(p.Points)-numeric),
		regs:     make([]uint16, maxBitsPerRead),
		rejected: map[uint32]byte{},
	}
	return d
}

// textReading is a string point's latest reading.
type textReading struct {
	text    string
	quality Quality
}

// fail sets the reading in slot s to quality q, without a value.
func (d *Device) fail(s int, q Quality) {
	if s >= d.numeric {
		d.texts[s-d.numeric] = textReading{quality: q}
		return
	}
	d.vals[s], d.quals[s] = 0, qcodeOf(q)
}

// fill writes the numeric points' latest readings into rs (len numeric),
// in the contract's form: what the sink receives.
func (d *Device) fill(rs []drivers.Reading) {
	rs = rs[:d.numeric]
	tpl, vals, quals := d.readings[:len(rs)], d.vals[:len(rs)], d.quals[:len(rs)]
	for s := range rs {
		t, r := &tpl[s], &rs[s]
		if q := quals[s]; q != qGood {
			*r = drivers.Reading{Name: t.Name, Unit: t.Unit, Quality: q.quality()}
			continue
		}
		// The point's good reading (Point.goodReading) with its value set.
		*r = *t
		switch bits := vals[s]; t.Kind {
		case drivers.Int:
			r.Int, r.Float = int64(bits), float64(int64(bits))
		case drivers.Uint:
			r.Uint, r.Float = bits, float64(bits)
		default:
			r.Float = math.Float64frombits(bits)
		}
	}
}

// pollReadings returns every point's latest reading in the form of Poll:
// numeric points first, then strings.
func (d *Device) pollReadings() []Reading {
	out := make([]Reading, len(d.slot))
	for i, s := range d.slot {
		pt := &d.Profile.Points[i]
		if s >= d.numeric {
			t := d.texts[s-d.numeric]
			out[s] = Reading{Point: pt, Kind: pt.kind, Text: t.text, Quality: t.quality}
			continue
		}
		var c drivers.Reading
		if q := d.quals[s]; q == qGood {
			pt.goodReading(&c, d.vals[s])
		} else {
			c.Quality = q.quality()
		}
		out[s] = readingOf(pt, &c)
	}
	return out
}

// readingOf is point pt's reading c in the form of Poll.
func readingOf(pt *Point, c *drivers.Reading) Reading {
	r := Reading{Point: pt, Kind: pt.kind, Quality: c.Quality}
	if c.HasValue {
		r.Value, r.Int, r.Uint = c.Float, c.Int, c.Uint
	}
	return r
}

// Sink receives each poll's readings, in the contract's form and in
// profile order. The slice is lent for the call (and then to other
// devices' polls): the sink must copy or encode what it keeps before it
// returns.
// String points are left out: the batch payload carries numbers only.
type Sink func(d *Device, polled time.Time, readings []drivers.Reading)

// transport carries request ADUs to a bus and responses back.
type transport interface {
	gmodbus.Transporter
	Close() error
	setTimeout(time.Duration)
}

// Bus owns one physical bus (a Modbus TCP endpoint, a serial line, or a
// serial device server reached over TCP): it alone talks to it, serialising
// the requests of every unit on it, with an idle delay between requests.
// A device that stops answering is backed off so that it does not hold up
// the others.
type Bus struct {
	Name       string
	delay      time.Duration
	timeout    time.Duration
	backoffMax time.Duration
	transport  transport
	setUnit    func(byte)
	client     gmodbus.Client
	devices    []*Device
	log        *slog.Logger
	lastReq    time.Time
	// pipeline is how many reads go out before their answers (bus
	// pipeline, transport tcp; read by the metrics too); pipe is then the
	// connection and window the window's requests. With pipeline auto,
	// trial says what the server has shown (tryWindow): pipeline is 1
	// until it showed that it queues requests.
	pipeline atomic.Int32
	pipe     *tcpTransport
	window   []pipeReq
	trial    atomic.Uint32 // a trialState; read by the status page too
	// resume are the slots Run starts devices from (a restarted bus's,
	// by device name); slots, set when Run returns, those they were due at.
	resume, slots map[string]time.Time
}

// NewBus prepares a bus owner for devices; it does no I/O.
func NewBus(cfg config.Bus, devices []*Device, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.DefaultTimeout
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = config.DefaultBackoffMax
	}
	b := &Bus{
		Name: cfg.Name, delay: cfg.Delay, timeout: cfg.Timeout, backoffMax: cfg.BackoffMax,
		devices: devices, log: log.With("bus", cfg.Name),
	}
	// goburrow's handlers serve only as packagers (MBAP or RTU framing,
	// CRC); all I/O goes through our transports.
	switch cfg.Transport {
	case config.TransportTCP, "":
		p := gmodbus.NewTCPClientHandler(cfg.Address)
		t := newTCPTransport(cfg.Address, cfg.Timeout)
		b.transport, b.setUnit = t, func(u byte) { p.SlaveId = u }
		b.client = gmodbus.NewClient2(p, b.transport)
		switch {
		case cfg.Pipeline == config.PipelineAuto && cfg.Delay <= 0:
			b.pipe = t
			b.trial.Store(uint32(trialPending))
		case cfg.Pipeline > 1:
			if cfg.Pipeline > maxPipeline || cfg.Delay > 0 {
				return nil, fmt.Errorf("bus %s: pipeline %d (at most %d, and not with a delay)", cfg.Name, cfg.Pipeline, maxPipeline)
			}
			b.pipeline.Store(int32(cfg.Pipeline))
			b.pipe = t
		}
	case config.TransportRTU, config.TransportRTUOverTCP:
		p := gmodbus.NewRTUClientHandler(cfg.Device)
		if cfg.Transport == config.TransportRTU {
			if cfg.Baud <= 0 || cfg.DataBits == 0 || cfg.StopBits == 0 || cfg.Parity == "" {
				return nil, fmt.Errorf("bus %s: serial line settings missing (baud %d, data bits %d, parity %q, stop bits %d)",
					cfg.Name, cfg.Baud, cfg.DataBits, cfg.Parity, cfg.StopBits)
			}
			b.transport = newRTUSerial(serial.Config{
				Address: cfg.Device, BaudRate: cfg.Baud, DataBits: cfg.DataBits,
				StopBits: cfg.StopBits, Parity: cfg.Parity,
			}, cfg.Timeout, cfg.BitsPerChar())
		} else {
			b.transport = newRTUOverTCP(cfg.Address, cfg.Timeout)
		}
		b.setUnit = func(u byte) { p.SlaveId = u }
		b.client = gmodbus.NewClient2(p, b.transport)
	default:
		return nil, fmt.Errorf("bus %s: unsupported transport %q", cfg.Name, cfg.Transport)
	}
	if b.pipeline.Load() == 0 {
		b.pipeline.Store(1)
	}
	return b, nil
}

// Close closes the bus's connection or serial port; the next request
// reopens it.
func (b *Bus) Close() error { return b.transport.Close() }

// Line reports what the bus's exchanges put on its serial line; ok is
// false unless the bus is Modbus RTU on a local serial line.
func (b *Bus) Line() (drivers.LineStats, bool) {
	if t, ok := b.transport.(*rtuTransport); ok {
		return t.lineStats()
	}
	return drivers.LineStats{}, false
}

// Busy exception handling: a read answered "busy" is retried after
// busyDelay, doubling, at most maxBusyRetries times and never past the
// device's next poll.
const maxBusyRetries = 3

func busyDelay(d *Device, attempt int) time.Duration {
	base := min(max(d.Interval/8, 10*time.Millisecond), time.Second)
	return base << (attempt - 1)
}

// backoff is how long a device that failed k consecutive polls is left
// alone: nothing after the first failure (it may be a blip), then the
// interval doubled per failure up to the bus's cap.
func (b *Bus) backoff(d *Device, k int) time.Duration {
	if k < 2 {
		return 0
	}
	bo := d.Interval
	for i := 1; i < k && bo < b.backoffMax; i++ {
		bo *= 2
	}
	return min(bo, b.backoffMax)
}

// Run polls every device on its interval, aligned to multiples of the
// interval, until ctx is done. A poll in progress when ctx ends completes
// and reaches the sink before Run returns.
func (b *Bus) Run(ctx context.Context, sink Sink) error {
	defer b.transport.Close()
	if len(b.devices) == 0 {
		<-ctx.Done()
		return nil
	}
	next := make([]time.Time, len(b.devices)) // each device's current poll slot
	now := time.Now()
	for i, d := range b.devices {
		next[i] = now.Truncate(d.Interval).Add(d.Interval)
		if slot, ok := b.resume[d.Name]; ok && slot.Before(next[i]) {
			// The bus restarted: the slot its last owner left due is
			// polled now, late, and any before it counted missed.
			next[i] = slot
		}
	}
	defer func() {
		b.slots = make(map[string]time.Time, len(b.devices))
		for i, d := range b.devices {
			b.slots[d.Name] = next[i]
		}
	}()
	due := func(i int) time.Time {
		if d := b.devices[i]; len(d.busy) > 0 {
			return d.retryAt
		}
		return next[i]
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		i := 0
		for j := range next {
			if due(j).Before(due(i)) {
				i = j
			}
		}
		if wait := time.Until(due(i)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		d := b.devices[i]
		if !b.step(d, next[i]) {
			continue // busy reads wait for their retry
		}
		rs := readingBufs.get(d.numeric)
		d.fill(rs)
		sink(d, d.polled, rs)
		readingBufs.put(rs)
		// The next multiple of the interval: a slot resumed from an
		// owner with another interval lies off its grid.
		next[i] = next[i].Truncate(d.Interval).Add(d.Interval)
		if now := time.Now(); !next[i].After(now) {
			missed := now.Sub(next[i])/d.Interval + 1
			b.log.Warn("poll overran its interval", "device", d.Name, "missed", int(missed))
			d.mu.Lock()
			d.state.Missed += uint64(missed)
			d.mu.Unlock()
			next[i] = now.Truncate(d.Interval).Add(d.Interval)
		}
	}
}

// step advances d's poll of slot: a fresh poll, or the retry of reads that
// came back busy. It reports whether the poll is complete.
func (b *Bus) step(d *Device, slot time.Time) bool {
	now := time.Now()
	if len(d.busy) == 0 {
		if now.Before(d.backoffUntil) {
			b.skip(d, now)
			return true
		}
		b.begin(d, now)
		b.readAll(d)
	} else {
		// Other devices on the bus may have been polled since the reads
		// came back busy: address d again before retrying them.
		b.address(d)
		b.readSet(d, d.busy)
	}
	if len(d.busy) > 0 {
		d.busyAttempt++
		retry := time.Now().Add(busyDelay(d, d.busyAttempt))
		if d.busyAttempt <= maxBusyRetries && retry.Before(slot.Add(d.Interval)) {
			d.retryAt = retry
			return false
		}
		b.giveUpBusy(d)
	}
	if every := b.settle(d); every && trialState(b.trial.Load()) == trialPending {
		b.tryWindow(d, time.Since(d.polled))
	}
	return true
}

// trialState is what a bus with pipeline auto knows of its server.
type trialState uint32

const (
	trialNone    trialState = iota // pipeline set in the configuration
	trialPending                   // one request at a time until a trial
	trialPassed                    // the server queues requests: pipelined
	trialFailed                    // one request at a time for good
)

// Waits of a trial window (tryWindow): each answer within twice the time
// the device's poll took one read at a time, but at least trialMinWait
// and at most the device's timeout.
const trialMinWait = 50 * time.Millisecond

// tryWindow finds out, once a bus with pipeline auto has a device that
// answered every read of a poll one at a time (with data or an
// exception), whether its server queues
// requests: it sends the first reads of that poll again together (at
// most MaxPipeline, at least two) and waits for their answers, each
// within twice what the whole poll took. Every answer back, each an
// answer to its read (data of the read's size, or an exception): the bus
// sends that many reads together from now on. Anything else (an answer
// missing or late, the connection closed, a frame that answers another
// request): one request at a time for the life of the bus, as a server
// that reads one TCP segment as one request would need, and the
// connection is closed so that no late answer can meet a later request.
// The answers are not readings, the poll having been read already; the
// trial costs the device one poll's worth of reads, once.
func (b *Bus) tryWindow(d *Device, took time.Duration) {
	n := min(len(d.plan), maxPipeline)
	if n < 2 {
		return // nothing to send together; another device may tell
	}
	var reads [maxPipeline]int
	for i := range n {
		reads[i] = i
	}
	timeout := b.timeoutOf(d)
	b.transport.setTimeout(min(max(2*took, trialMinWait), timeout))
	answers, err := b.pipe.exchange(b.windowOf(d, reads[:n]))
	b.transport.setTimeout(timeout)
	got := 0
	for i, a := range answers {
		if a == nil {
			continue
		}
		if _, rerr := readData(&d.plan[i], a); rerr != nil && !isException(rerr) && err == nil {
			err = rerr
		}
		got++
	}
	if err == nil && got < n {
		err = errors.New("answers missing")
	}
	if err != nil {
		b.pipe.Close()
		b.trial.Store(uint32(trialFailed))
		b.log.Info("server does not answer requests sent together; one request at a time",
			"device", d.Name, "unit", d.Unit, "sent", n, "answered", got, "wait", min(max(2*took, trialMinWait), timeout).String(), "err", err)
		return
	}
	b.pipeline.Store(int32(n))
	b.trial.Store(uint32(trialPassed))
	b.log.Info("server answers requests sent together; reads pipelined", "device", d.Name, "unit", d.Unit, "in_flight", n)
}

// isException reports whether err is a Modbus exception answer.
func isException(err error) bool {
	var me *gmodbus.ModbusError
	return errors.As(err, &me)
}

// InFlight reports how many reads the bus sends before their answers
// (1: one at a time); with pipeline auto, what its trial found so far.
func (b *Bus) InFlight() int { return int(b.pipeline.Load()) }

// Pipeline modes (Bus.PipelineMode).
const (
	PipelineFixed     = "fixed"              // the configuration's window (1 included)
	PipelineUntried   = "auto-untried"       // auto: one at a time until a device answers every read of a poll
	PipelinePipelined = "auto-pipelined"     // auto: the server answered reads sent together
	PipelineOneAtTime = "auto-one-at-a-time" // auto: it did not (or later left some unanswered); for good
)

// PipelineMode says where the bus's window comes from: the configuration,
// or, with pipeline auto, what its trial found so far.
func (b *Bus) PipelineMode() string {
	switch trialState(b.trial.Load()) {
	case trialPending:
		return PipelineUntried
	case trialPassed:
		return PipelinePipelined
	case trialFailed:
		return PipelineOneAtTime
	}
	return PipelineFixed
}

// Poll reads every point of d once, now, whatever its back-off. Every
// point gets a reading: a value with quality good, or the reason it has
// none. Reads answered busy are retried before Poll returns. The readings
// are a new slice, numeric points first, then strings (an operator's
// read; the polling of Run allocates nothing per poll).
func (b *Bus) Poll(d *Device) []Reading {
	b.pollNow(d)
	return d.pollReadings()
}

// pollNow is Poll without its copy: the readings are in d.vals, d.quals
// and d.texts.
func (b *Bus) pollNow(d *Device) {
	b.begin(d, time.Now())
	b.readAll(d)
	for len(d.busy) > 0 {
		d.busyAttempt++
		if d.busyAttempt > maxBusyRetries {
			b.giveUpBusy(d)
			break
		}
		time.Sleep(busyDelay(d, d.busyAttempt))
		b.readSet(d, d.busy)
	}
	b.settle(d)
}

func (b *Bus) begin(d *Device, now time.Time) {
	d.polled = now
	d.mu.Lock()
	d.state.LastPoll = now
	d.state.Polls++
	d.mu.Unlock()
	d.busy, d.busyAttempt, d.lastErr = d.busy[:0], 0, nil
	d.silent, d.answeredPoll = qNone, false
	b.address(d)
}

// address makes the bus's next requests d's: its unit and its timeout.
func (b *Bus) address(d *Device) {
	b.transport.setTimeout(b.timeoutOf(d))
	b.setUnit(d.Unit)
}

// timeoutOf is d's timeout: its own, or the bus's.
func (b *Bus) timeoutOf(d *Device) time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return b.timeout
}

// skip fills a backed-off device's readings with the quality of its last
// failure, without asking it.
func (b *Bus) skip(d *Device, now time.Time) {
	for s := range d.numeric + len(d.texts) { // every slot
		d.fail(s, d.lastFailure)
	}
	d.polled = now
	d.mu.Lock()
	d.state.LastPoll = now
	d.state.Polls++
	d.state.Skipped++
	d.mu.Unlock()
}

func (b *Bus) giveUpBusy(d *Device) {
	for _, ri := range d.busy {
		b.mark(d, &d.plan[ri], ExceptionQuality(ExBusy))
	}
	d.busy = d.busy[:0]
}

// settle records how the poll went and backs off a device that did not
// answer it at all. It reports whether the device answered every read,
// with data or an exception.
func (b *Bus) settle(d *Device) (every bool) {
	answered, missing := false, false
	var unanswered qcode // the last quality saying that the device did not answer
	for _, q := range d.quals {
		if q.noAnswer() {
			unanswered = q
		} else {
			answered = true
		}
	}
	if unanswered != qNone {
		d.lastFailure = unanswered.quality()
	}
	for i := range d.texts {
		if q := d.texts[i].quality; qcodeOf(q).noAnswer() {
			d.lastFailure, missing = q, true
		} else {
			answered = true
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.state
	if answered != st.Up || st.Since.IsZero() {
		if answered && !st.Since.IsZero() {
			b.log.Info("device answers again", "device", d.Name, "unit", d.Unit, "down_for", st.LastPoll.Sub(st.Since).Round(time.Millisecond).String())
		}
		st.Up, st.Since = answered, st.LastPoll
	}
	if answered {
		st.Answered++
		d.failures = 0
		d.backoffUntil = time.Time{}
	} else {
		d.failures++
		if bo := b.backoff(d, d.failures); bo > 0 {
			d.backoffUntil = time.Now().Add(bo)
			b.log.Warn("device not answering; backing off", "device", d.Name, "unit", d.Unit,
				"failures", d.failures, "retry_in", bo.String(), "err", d.lastErr)
		}
	}
	st.Failures, st.BackoffUntil = d.failures, d.backoffUntil
	st.LastError = ""
	if d.lastErr != nil {
		st.LastError = d.lastErr.Error()
	}
	return answered && !missing && unanswered == qNone
}

func (b *Bus) readAll(d *Device) {
	d.work = d.work[:0]
	for i := range d.plan {
		d.work = append(d.work, i)
	}
	b.run(d)
}

func (b *Bus) readSet(d *Device, reads []int) {
	d.work = append(d.work[:0], reads...)
	d.busy = d.busy[:0]
	b.run(d)
}

// run performs the reads in d.work (plan indexes), one at a time or, on a
// pipelined bus, in windows of b.pipeline; a merged read refused with
// "illegal address" is split into one read per point, appended to the
// work. When the device answered nothing at its previous poll, has
// answered nothing of this one, and a read goes unanswered (d.silent),
// the poll's remaining reads are not sent: they get the same quality. A
// gone device then holds the bus for one timeout a poll, not one for each
// of its reads (and, on RTU, another for each late-reply check), and the
// other devices of the bus keep their intervals; a device that was
// answering and loses one frame loses that read only.
func (b *Bus) run(d *Device) {
	for k := 0; k < len(d.work); {
		if d.silent != qNone {
			q := d.silent.quality()
			for _, ri := range d.work[k:] {
				b.mark(d, &d.plan[ri], q)
			}
			return
		}
		if w := int(b.pipeline.Load()); w > 1 {
			n := min(w, len(d.work)-k)
			b.runWindow(d, d.work[k:k+n])
			k += n
			continue
		}
		ri := d.work[k]
		data, err := b.request(&d.plan[ri])
		b.result(d, ri, data, err)
		k++
	}
}

// runWindow sends the reads of one window together and takes their
// answers in order; a read left unanswered by the window's error gets it.
func (b *Bus) runWindow(d *Device, reads []int) {
	reqs := b.windowOf(d, reads)
	answers, werr := b.pipe.exchange(reqs)
	if werr != nil && trialState(b.trial.Load()) == trialPassed && slices.ContainsFunc(answers, func(a []byte) bool { return a != nil }) &&
		slices.ContainsFunc(answers, func(a []byte) bool { return a == nil }) {
		// Some reads of the window answered, the others not: a server
		// that queues fewer requests than its trial had, or that lost
		// them. One at a time from the next read on.
		b.pipeline.Store(1)
		b.trial.Store(uint32(trialFailed))
		b.log.Warn("server left reads sent together unanswered; one request at a time",
			"device", d.Name, "unit", d.Unit, "sent", len(reqs), "err", werr)
	}
	for j, ri := range reads {
		r := &d.plan[ri]
		if j >= len(answers) || answers[j] == nil {
			err := werr
			if err == nil {
				err = errors.New("no answer")
			}
			b.result(d, ri, nil, err)
			continue
		}
		data, err := readData(r, answers[j])
		b.result(d, ri, data, err)
	}
}

// windowOf is the requests of d's reads (plan indexes) as one window,
// in b.window.
func (b *Bus) windowOf(d *Device, reads []int) []pipeReq {
	reqs := b.window[:0]
	for _, ri := range reads {
		r := &d.plan[ri]
		reqs = append(reqs, pipeReq{unit: d.Unit, fc: r.Table.FunctionCode(), addr: r.Address, qty: r.Quantity})
	}
	b.window = reqs
	return reqs
}

// result takes the answer to read ri (or its error) into d.
func (b *Bus) result(d *Device, ri int, data []byte, err error) {
	r := &d.plan[ri]
	if err != nil {
		err = fmt.Errorf("device %s unit %d %s %s: %w", d.Name, d.Unit, r.Table, b.span(d, r), err)
		q := classify(err)
		// An exception is an answer. A garbled frame or a refused
		// connection is not, but costs little: the next read is sent.
		switch c := qcodeOf(q); {
		case !c.noAnswer():
			d.answeredPoll = true
		case c != qCommError && !d.answeredPoll && d.failures > 0:
			// Silent at its previous poll too: gone, most likely. (A
			// device that was answering may have lost one frame to
			// noise: its other reads are still sent.)
			d.silent = c
		}
		switch q {
		case ExceptionQuality(ExBusy):
			d.busy = append(d.busy, ri)
			d.lastErr = err
			return
		case ExceptionQuality(ExIllegalAddress):
			if len(r.Points) > 1 {
				b.log.Warn("device refuses a merged read; reading its points one by one",
					"device", d.Name, "unit", d.Unit, "table", r.Table.String(), "register", b.span(d, r), "err", err)
				d.work = append(d.work, d.split(ri)...)
				return
			}
			b.reject(d, r, err)
		case ExceptionQuality(ExIllegalFunction), ExceptionQuality(ExIllegalValue):
			b.reject(d, r, err)
		case Timeout:
		default:
			b.log.Debug("read failed", "device", d.Name, "err", err)
		}
		if q == CommError {
			// A frame we could not make sense of: start afresh.
			b.transport.Close()
		}
		d.lastErr = err
		b.mark(d, r, q)
		return
	}
	d.answeredPoll = true
	delete(d.rejected, readKey(r))
	if r.Table.Bits() {
		for i := range r.Quantity {
			d.regs[i] = uint16(data[i/8] >> (i % 8) & 1)
		}
	} else {
		regs, src := d.regs[:r.Quantity], data[:2*int(r.Quantity)]
		i := 0
		for ; i+4 <= len(regs); i += 4 { // four big-endian registers a load
			x := binary.BigEndian.Uint64(src[2*i:])
			rr := regs[i : i+4 : i+4]
			rr[0], rr[1], rr[2], rr[3] = uint16(x>>48), uint16(x>>32), uint16(x>>16), uint16(x)
		}
		for ; i < len(regs); i++ {
			regs[i] = binary.BigEndian.Uint16(src[2*i:])
		}
	}
	regs := d.regs[:r.Quantity]
	pts, slot, offs := d.Profile.Points, d.slot, r.Offsets[:len(r.Points)]
	for k, pi := range r.Points {
		pt, s, at := &pts[pi], slot[pi], regs[offs[k]:]
		if s >= d.numeric {
			d.texts[s-d.numeric] = textReading{text: pt.DecodeText(at), quality: Good}
			continue
		}
		var bits uint64
		var ok bool
		if pt.plainF32 {
			// Most points of a large device: decodeBits' result without
			// its switches on kind, type and order.
			v := float64(math.Float32frombits(uint32(at[0])<<16|uint32(at[1]))) * pt.scale
			if pt.Offset != 0 { // -0 + 0 is +0 (decode.go, scaled)
				v += pt.Offset
			}
			bits, ok = math.Float64bits(v), math.Abs(v) <= math.MaxFloat64 && v >= pt.minValue && v <= pt.maxValue
		} else {
			bits, ok = pt.decodeBits(at)
		}
		d.vals[s], d.quals[s] = bits, qGood
		if !ok {
			d.vals[s], d.quals[s] = 0, qOutOfRange
		}
	}
}

// readData checks the answer PDU of a pipelined read the way the
// one-at-a-time client does and returns its data: an exception answer is
// a *modbus.ModbusError, anything but the read's function code or a byte
// count other than the read's is a communication error.
func readData(r *Read, pdu []byte) ([]byte, error) {
	fc := r.Table.FunctionCode()
	switch {
	case len(pdu) >= 2 && pdu[0] == fc|exceptionFlag:
		return nil, &gmodbus.ModbusError{FunctionCode: pdu[0], ExceptionCode: pdu[1]}
	case pdu[0] != fc:
		return nil, fmt.Errorf("answer with function code %#x to a read with %#x", pdu[0], fc)
	case len(pdu) < 2 || int(pdu[1]) != len(pdu)-2:
		return nil, fmt.Errorf("answer of %d bytes does not match its byte count", len(pdu))
	}
	data := pdu[2:]
	if want := r.dataLen(); len(data) != want {
		return nil, fmt.Errorf("%d data bytes for %d %s", len(data), r.Quantity, r.Table)
	}
	return data, nil
}

// request sends one read, keeping the bus idle for its delay since the
// previous request.
func (b *Bus) request(r *Read) ([]byte, error) {
	if b.delay > 0 && !b.lastReq.IsZero() {
		if wait := b.delay - time.Since(b.lastReq); wait > 0 {
			time.Sleep(wait)
		}
	}
	defer func() { b.lastReq = time.Now() }()
	var data []byte
	var err error
	switch r.Table {
	case Input:
		data, err = b.client.ReadInputRegisters(r.Address, r.Quantity)
	case Coil:
		data, err = b.client.ReadCoils(r.Address, r.Quantity)
	case Discrete:
		data, err = b.client.ReadDiscreteInputs(r.Address, r.Quantity)
	default:
		data, err = b.client.ReadHoldingRegisters(r.Address, r.Quantity)
	}
	if want := r.dataLen(); err == nil && len(data) != want {
		err = fmt.Errorf("%d data bytes for %d %s", len(data), r.Quantity, r.Table)
	}
	var mbErr *gmodbus.ModbusError
	if fc := r.Table.FunctionCode(); errors.As(err, &mbErr) && mbErr.FunctionCode != fc|0x80 {
		// goburrow reports any answer with another function code as a
		// ModbusError, its first data byte as the exception code: an
		// exception to another request (0x81 to a read with 0x03), or a
		// normal answer to one, is a garbled frame, not the device's
		// exception to this read (as the pipelined path judges it).
		err = fmt.Errorf("answer with function code %#x to a read with %#x", mbErr.FunctionCode, fc)
	}
	return data, err
}

func (b *Bus) mark(d *Device, r *Read, q Quality) {
	for _, pi := range r.Points {
		d.fail(d.slot[pi], q)
	}
}

// span names a read's registers as the profile writes them (with its
// address base) and on the wire.
func (b *Bus) span(d *Device, r *Read) string {
	base := d.Profile.AddressBase
	s := "register "
	if r.Table.Bits() {
		s = "bit "
	}
	s += strconv.Itoa(int(r.Address) + base)
	if r.Quantity > 1 {
		s += "-" + strconv.Itoa(int(r.Address)+int(r.Quantity)-1+base)
	}
	if base != 0 {
		s += " (protocol address " + strconv.Itoa(int(r.Address)) + ")"
	}
	return s
}

func readKey(r *Read) uint32 { return uint32(r.Table)<<16 | uint32(r.Address) }

// reject reports a read the device refuses as a configuration error, once
// until the device accepts it again.
func (b *Bus) reject(d *Device, r *Read, err error) {
	var mbErr *gmodbus.ModbusError
	if !errors.As(err, &mbErr) {
		return
	}
	key := readKey(r)
	if code, ok := d.rejected[key]; ok && code == mbErr.ExceptionCode {
		return
	}
	d.rejected[key] = mbErr.ExceptionCode
	names := make([]string, len(r.Points))
	for i, pi := range r.Points {
		names[i] = d.Profile.Points[pi].Name
	}
	b.log.Error("configuration error: the device refuses this read; check the profile",
		"device", d.Name, "unit", d.Unit, "table", r.Table.String(), "register", b.span(d, r),
		"points", names, "exception", mbErr.ExceptionCode, "meaning", exceptionName(mbErr.ExceptionCode), "err", err)
}

func exceptionName(code byte) string {
	switch code {
	case ExIllegalFunction:
		return "illegal function: the device does not serve this table"
	case ExIllegalAddress:
		return "illegal data address: no such register"
	case ExIllegalValue:
		return "illegal data value: e.g. too many registers in one read (lower max_registers)"
	}
	return "exception"
}

// split replaces the merged read ri by a read of its first point and returns
// the indexes of new reads, one per further point.
func (d *Device) split(ri int) []int {
	r := d.plan[ri]
	single := func(k int) Read {
		pi := r.Points[k]
		pt := &d.Profile.Points[pi]
		return Read{Table: r.Table, Address: uint16(pt.reg), Quantity: uint16(pt.Words()), Points: []int{pi}, Offsets: []int{0}}
	}
	d.plan[ri] = single(0)
	added := []int{ri}
	for k := 1; k < len(r.Points); k++ {
		d.plan = append(d.plan, single(k))
		added = append(added, len(d.plan)-1)
	}
	return added
}

func classify(err error) Quality {
	var mbErr *gmodbus.ModbusError
	// Bus.request leaves a ModbusError only for an exception to the
	// request's own function code.
	if errors.As(err, &mbErr) && mbErr.FunctionCode&0x80 != 0 {
		return ExceptionQuality(mbErr.ExceptionCode)
	}
	if errors.Is(err, ErrTimeout) {
		return Timeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Timeout
	}
	return CommError
}
