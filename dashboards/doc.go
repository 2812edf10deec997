// Package dashboards holds eipgw's Grafana dashboards: the generator
// (dashboards/gen), the generated JSON and the Grafana provisioning files
// (dashboards/provisioning), and a docker-compose.yml that runs the whole
// stack (dashboards/compose). Its tests run every InfluxQL panel and
// variable query against a real InfluxDB filled by a demo run, and check
// every Prometheus metric a panel names against the roles that serve it.
package dashboards
