// Package influxwrite is eipgw's one way of writing to InfluxDB, shared by
// ingest (raw readings) and the park engine (derived records):
//
//   - New builds the client: influxdb-client-go v2's blocking write API
//     (v2 /api/v2/write, served by InfluxDB 1.8, 2.x and 3.x), millisecond
//     precision, the configured timeout and TLS.
//   - Classify sorts the answer to a write into success, transient (retry
//     with Backoff: network error, timeout, 5xx, 429, 401/403/404 while
//     the server or its configuration is fixed), refused (400, 413, 422:
//     permanent for the request, to be split to find the bad record) and
//     partial write (InfluxDB 1.8's 400 "partial write: ...": some points
//     were stored, the offending one is permanent).
//   - Line builds line protocol with one set of escaping rules, which
//     ingest's hot path uses through the Append* functions.
//   - Queue holds records that must not be lost (the park engine's),
//     bounded, and writes them with this classification: transient
//     failures are retried, a refused request is split until the bad
//     record stands alone, and every record leaves it stored or with the
//     reason it never will be.
package influxwrite
