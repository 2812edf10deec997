// Package mqttconn builds eipgw's MQTT client options, so that edge, ingest
// and park connect the same way: MQTT 3.1.1, QoS 1, persistent sessions
// (CleanSession=false) with stable client ids, automatic reconnection, TLS
// from the configuration (also used for InfluxDB), and failed connections
// logged and returned with their cause. Topics come from package topic.
package mqttconn

import (
	"log/slog"
	"net"
	"net/url"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/eipgw/eipgw/config"
)

// ReplayRequest is the payload of a replay request (version 1), published
// retained on topic.Replay.
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
		SetStore(newStore()).
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
