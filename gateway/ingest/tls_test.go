package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eipgw/eipgw/config"
	"github.com/eipgw/eipgw/gateway/devtools/testenv"
	"github.com/eipgw/eipgw/gateway/plumbing/batch"
	"github.com/eipgw/eipgw/gateway/plumbing/topic"
)

// tlsPublisher connects to the TLS broker with the test's client
// certificate, as an edge would.
func tlsPublisher(t *testing.T, pki *testenv.PKI, broker string) mqtt.Client {
	t.Helper()
	tc, err := (&config.TLS{CAFile: pki.CA, CertFile: pki.Client.Cert, KeyFile: pki.Client.Key}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("tls-edge").SetTLSConfig(tc))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func runIngest(t *testing.T, yaml string, log *slog.Logger) *Ingest {
	t.Helper()
	in, stop := startIngest(t, yaml, log)
	t.Cleanup(stop)
	return in
}

// startIngest runs ingest with the configuration yaml until stop, which
// reports an error Run returned; stop may be called more than once.
func startIngest(t *testing.T, yaml string, log *slog.Logger) (in *Ingest, stop func()) {
	t.Helper()
	return startIngestReg(t, yaml, log, nil)
}

// startIngestReg is startIngest with its metrics on reg.
func startIngestReg(t *testing.T, yaml string, log *slog.Logger, reg *prometheus.Registry) (in *Ingest, stop func()) {
	t.Helper()
	cfg, err := config.Parse("ingest.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if in, err = New(ingestRole(t, cfg), log, reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once sync.Once
	return in, func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

func publishBatch(t *testing.T, c mqtt.Client, seq uint64, ts time.Time) {
	t.Helper()
	b := batch.Batch{Gateway: "gw", Seq: seq, Device: "boiler-1", Kind: "boiler", Time: ts,
		Points: []batch.Point{{Name: "steam_flow", Value: 12.5, HasValue: true, Unit: "t/h", Quality: batch.Good}}}
	if tok := c.Publish(topic.Data("p", "gw", b.Device), 1, false, b.AppendJSON(nil)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// TestTLSEndToEnd: ingest reads from Mosquitto over TLS with a client
// certificate and writes to InfluxDB over HTTPS with the CA file; without
// the CA file the write fails, nothing is acknowledged, and the x509
// cause is in the log.
func TestTLSEndToEnd(t *testing.T) {
	pki := testenv.NewPKI(t)
	mq := testenv.StartMosquittoOpts(t, testenv.MosquittoOptions{TLS: &testenv.ServerTLS{Cert: pki.Server, ClientCA: pki.CA, CA: pki.CA}})
	ifx := testenv.StartInfluxOpts(t, "eipgw", testenv.InfluxOptions{TLS: &testenv.ServerTLS{Cert: pki.Server, CA: pki.CA}})
	if !strings.HasPrefix(ifx.URL, "https://") {
		t.Fatalf("influx URL %s", ifx.URL)
	}
	pub := tlsPublisher(t, pki, mq.URL)
	base := `park: p
mqtt:
  broker: %s
  client_id: %s
  tls: {ca_file: %s, cert_file: %s, key_file: %s}
ingest:
  batch_wait: 50ms
  influxdb:
    url: %s
    bucket: eipgw/autogen
    %s
  completeness: {disabled: true}
`
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)

	t.Run("with the CA file", func(t *testing.T) {
		var logs testenv.LogBuffer
		runIngest(t, fmt.Sprintf(base, mq.URL, "tls-ingest", pki.CA, pki.Client.Cert, pki.Client.Key, ifx.URL, "tls: {ca_file: "+pki.CA+"}"),
			slog.New(slog.NewTextHandler(&logs, nil)))
		deadline := time.Now().Add(30 * time.Second)
		for seq := uint64(1); ; seq++ {
			// Published until ingest's subscription is in place.
			publishBatch(t, pub, seq, t0.Add(time.Duration(seq)*time.Second))
			series, err := ifx.Query("eipgw", `SELECT count(steam_flow) FROM boiler`)
			if err != nil {
				t.Fatal(err)
			}
			if len(series) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nothing stored over HTTPS:\n%s", logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("without the CA file", func(t *testing.T) {
		var logs testenv.LogBuffer
		in := runIngest(t, fmt.Sprintf(base, mq.URL, "tls-ingest-no-ca", pki.CA, pki.Client.Cert, pki.Client.Key, ifx.URL, ""),
			slog.New(slog.NewTextHandler(&logs, nil)))
		// The write failure is logged with its x509 cause (the look-up
		// of the newest stored batch, at start, fails with it too).
		writeFailed := func() bool {
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, "influxdb write failed") && strings.Contains(l, "x509: certificate signed by unknown authority") {
					return true
				}
			}
			return false
		}
		deadline := time.Now().Add(30 * time.Second)
		for seq := uint64(1000); !writeFailed(); seq++ {
			publishBatch(t, pub, seq, t0.Add(time.Duration(seq)*time.Millisecond))
			if time.Now().After(deadline) {
				t.Fatalf("no write failure with its x509 cause logged:\n%s", logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
		if st := in.Stats(); st.Acked != 0 || st.Writes != 0 {
			t.Fatalf("acknowledged or written without a verified server: %+v", st)
		}
	})
}

// TestInfluxQLUsesTLS: the InfluxQL client (completeness, sequence checks)
// trusts the configured CA and fails with the x509 cause without it.
func TestInfluxQLUsesTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	ifx := testenv.StartInfluxOpts(t, "eipgw", testenv.InfluxOptions{TLS: &testenv.ServerTLS{Cert: pki.Server, CA: pki.CA}})
	ok := influxQLFor(&config.InfluxDB{URL: ifx.URL, Bucket: "eipgw/autogen", Timeout: 10 * time.Second, TLS: &config.TLS{CAFile: pki.CA}})
	if _, err := ok.query(context.Background(), "SHOW MEASUREMENTS"); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	bad := influxQLFor(&config.InfluxDB{URL: ifx.URL, Bucket: "eipgw/autogen", Timeout: 10 * time.Second})
	if _, err := bad.query(context.Background(), "SHOW MEASUREMENTS"); err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") {
		t.Fatalf("without the CA: %v", err)
	}
	gone := influxQLFor(&config.InfluxDB{URL: ifx.URL, Bucket: "eipgw/autogen", Timeout: 10 * time.Second, TLS: &config.TLS{CAFile: t.TempDir() + "/gone.pem"}})
	if _, err := gone.query(context.Background(), "SHOW MEASUREMENTS"); err == nil || !strings.Contains(err.Error(), "gone.pem") {
		t.Fatalf("CA file gone: %v", err)
	}
}
