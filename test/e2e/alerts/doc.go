// Package alerts holds the end-to-end test of deploy/monitoring: the PrometheusRule's alerts
// and the Grafana dashboard's queries, checked with Prometheus's own rule parser and PromQL
// engine (bin/promrules) against /metrics scraped from the syncers and CoreDNS of a localenv
// clusterset driven into healthy and faulty states.
package alerts
