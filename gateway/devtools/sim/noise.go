package sim

import (
	"math"
	"time"
)

// Randomness in the model is a pure function of (seed, channel, time knot):
// a value depends only on the seed and the time it is evaluated at, never
// on how the clock got there. Only the totalisers depend on the Step times.

// mix is the splitmix64 finaliser, a bijective 64-bit hash.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash01 returns a uniform value in [0, 1) for (seed, channel, k).
func hash01(seed, channel, k uint64) float64 {
	h := mix(seed ^ mix(channel*0x9e3779b97f4a7c15^mix(k+0x632be59bd9b4e019)))
	return float64(h>>11) / (1 << 53)
}

// Channel groups keep parameter and noise streams apart.
const (
	groupParam uint64 = 1 << 40
	groupNoise uint64 = 2 << 40
)

// channel names one stream: object index (tenant or device) and field.
func channel(group, object, field uint64) uint64 { return group | object<<16 | field }

// valueNoise is smooth value noise in [-1, 1]: random values at knots every
// period seconds, joined by smoothstep, so it is continuous with a
// continuous first derivative.
func valueNoise(seed, ch uint64, t time.Time, period int64) float64 {
	sec := t.Unix()
	k := sec / period
	if sec%period < 0 {
		k--
	}
	frac := (float64(sec-k*period) + float64(t.Nanosecond())/1e9) / float64(period)
	a := 2*hash01(seed, ch, uint64(k)) - 1
	b := 2*hash01(seed, ch, uint64(k+1)) - 1
	return a + (b-a)*smoothstep(frac)
}

// noise is the model's standard disturbance in [-1, 1]: a slow component
// (15 min knots) plus a faster one (2 min knots).
func noise(seed, ch uint64, t time.Time) float64 {
	return 0.7*valueNoise(seed, ch, t, 900) + 0.3*valueNoise(seed, ch^0x5bd1e995, t, 120)
}

// smoothstep maps x to [0, 1] with zero slope at both ends.
func smoothstep(x float64) float64 {
	if x <= 0 {
		return 0
	}
	if x >= 1 {
		return 1
	}
	return x * x * (3 - 2*x)
}

// wrapHour maps h to [0, 24).
func wrapHour(h float64) float64 {
	h = math.Mod(h, 24)
	if h < 0 {
		h += 24
	}
	return h
}

// shiftShape is the day-shift load shape in [0, 1] at local hour h: 0 at
// night, rising smoothly 06:00-09:00, 1 until 17:00, falling to 0 by 22:00.
func shiftShape(h float64) float64 {
	h = wrapHour(h)
	return smoothstep((h-6)/3) * (1 - smoothstep((h-17)/5))
}

// dayWave is a sinusoid in [-1, 1] peaking at local hour peak.
func dayWave(h, peak float64) float64 {
	return math.Cos(2 * math.Pi * (h - peak) / 24)
}

// localHour is the time of day at t in loc, in hours.
func localHour(t time.Time, loc *time.Location) float64 {
	l := t.In(loc)
	return float64(l.Hour()) + float64(l.Minute())/60 + (float64(l.Second())+float64(l.Nanosecond())/1e9)/3600
}
