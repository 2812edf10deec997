// Package mqttconn builds eipgw's MQTT client options and topic names, so
// that edge, ingest and park connect the same way: MQTT 3.1.1, QoS 1,
// persistent sessions (CleanSession=false) with stable client ids, automatic
// reconnection, TLS from the configuration (also used for InfluxDB), and
// failed connections logged and returned with their cause.
package mqttconn

import (
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
)

// Topic prefix and levels of the MQTT contract.
const (
	Prefix = "eip/v1/"
	// StatusLevel is the last level of a gateway's retained status topic.
	StatusLevel = "status"
	// MetricsLevel is the gateway level of derived metrics topics.
	MetricsLevel = "metrics"
)

// DataTopic is where a device's batches are published.
func DataTopic(park, gateway, device string) string {
	return Prefix + park + "/" + gateway + "/" + device
}

// StatusTopic is the gateway's retained birth / last-will topic.
func StatusTopic(park, gateway string) string {
	return Prefix + park + "/" + gateway + "/" + StatusLevel
}

// DeadLetterTopic receives payloads that ingest could not use. It has one
// level fewer than data topics, so data subscriptions never match it.
func DeadLetterTopic(park string) string { return Prefix + park + "/deadletter" }

// ReplayTopic is where ingest worker requester (its client id) asks the
// park's edges to publish again what they published since a time
// (retained; the requester clears it with an empty retained message). It
// has more levels than data topics, so data subscriptions never match it.
func ReplayTopic(park, requester string) string {
	return Prefix + park + "/" + ReplayLevels + requester
}

// ReplayLevels are the levels between the park and the requester of a
// replay topic.
const ReplayLevels = "control/replay/"

// ReplayFilter matches every replay request of a park.
func ReplayFilter(park string) string { return Prefix + park + "/" + ReplayLevels + "+" }

// ReplayRequester returns the requester of a replay topic of park, and
// false for any other topic.
func ReplayRequester(park, topic string) (string, bool) {
	r, ok := strings.CutPrefix(topic, Prefix+park+"/"+ReplayLevels)
	if !ok || r == "" || strings.ContainsAny(r, "/+#") {
		return "", false
	}
	return r, true
}

// ReplayRequest is the payload of a replay request (version 1).
type ReplayRequest struct {
	V int `json:"v"`
	// ID is unique per request: an edge serves each id once.
	ID string `json:"id"`
	// Since is the time from which batches are wanted (RFC 3339).
	Since string `json:"since"`
	// Time is when the request was issued (RFC 3339): edges refuse a
	// request older than their replay.max_age, such as one left retained.
	Time string `json:"ts"`
}

// DataFilter matches every data and status topic of a park.
func DataFilter(park string) string { return Prefix + park + "/+/+" }

// Options returns client options for cfg with the given client id; callers
// add handlers, will and ack mode, and build the client with NewClient.
// A TLS broker URL (ssl://, tls://, mqtts://, wss://) uses cfg.TLS; failed
// connection attempts are logged with their cause; the broker URL is
// logged without credentials.
func Options(cfg *config.MQTT, clientID string, log *slog.Logger) *mqtt.ClientOptions {
	broker := config.RedactURL(cfg.Broker)
	failures := &failureLog{log: log, broker: broker, clientID: clientID}
	o := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetKeepAlive(cfg.KeepAlive).
		SetPingTimeout(cfg.KeepAlive / 2).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetWriteTimeout(cfg.ConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetOrderMatters(true).
		SetConnectionNotificationHandler(failures.notify).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			log.Warn("mqtt connection lost", "broker", broker, "client_id", clientID, "err", err)
		}).
		SetReconnectingHandler(func(_ mqtt.Client, _ *mqtt.ClientOptions) {
			log.Info("mqtt reconnecting", "broker", broker, "client_id", clientID)
		})
	if cfg.Secure() {
		tc, err := TLSConfig(cfg.TLS, cfg.Broker, log)
		if err != nil {
			// Load checked the files; they changed since. Every attempt
			// fails with this error, which is logged and which Connect
			// returns.
			cfgErr := &tlsConfigError{err: err}
			log.Error("mqtt tls configuration", "broker", broker, "err", err)
			o.SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return nil, cfgErr })
		} else {
			o.SetTLSConfig(tc)
		}
	}
	if cfg.Username != "" {
		o.SetUsername(cfg.Username)
	}
	if cfg.Password != "" {
		o.SetPassword(cfg.Password)
	}
	return o
}
