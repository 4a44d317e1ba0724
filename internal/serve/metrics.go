package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are serve's Prometheus collectors, named in the way of Flux's
// gotk_* and Argo CD's argocd_app_*: gearshift_<thing>_<unit>, one label
// set per environment.
type metrics struct {
	reg *prometheus.Registry

	reconcileDuration *prometheus.HistogramVec // environment
	reconciles        *prometheus.CounterVec   // environment, result
	actions           *prometheus.CounterVec   // environment, driver, action, outcome
	unitInfo          *prometheus.GaugeVec     // environment, unit, desired, running, health
	unitAge           *prometheus.GaugeVec     // environment, unit
	unitMaxAge        *prometheus.GaugeVec     // environment, unit
	violations        *prometheus.GaugeVec     // environment, rule, severity
	webhooks          *prometheus.CounterVec   // event, result
	commitToAction    *prometheus.HistogramVec // environment
	envInfo           *prometheus.GaugeVec     // environment, ref, commit
	lastReconcile     *prometheus.GaugeVec     // environment
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gearshift_reconcile_duration_seconds",
		Help:    "How long one reconcile of an environment took (fetch, load, apply.Reconcile, status record).",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
	}, []string{"environment"})
	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gearshift_reconcile_total",
		Help: "Reconciles of an environment by result: done, held (a policy denied or a window held), failed, error (the run could not start: locked, invalid state, refused ref).",
	}, []string{"environment", "result"})
	m.actions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gearshift_apply_actions_total",
		Help: "Actions apply carried out or skipped, by driver (host, exec, kubernetes), action type and outcome.",
	}, []string{"environment", "driver", "action", "outcome"})
	m.unitInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gearshift_unit_info",
		Help: "One series per unit with its desired and running versions and health (always 1), like argocd_app_info.",
	}, []string{"environment", "unit", "desired", "running", "health"})
	m.unitAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gearshift_unit_age_seconds",
		Help: "Seconds since the running release of a unit was deployed (as last observed).",
	}, []string{"environment", "unit"})
	m.unitMaxAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gearshift_unit_max_age_seconds",
		Help: "The unit's maxAge: compare gearshift_unit_age_seconds with it (0: none).",
	}, []string{"environment", "unit"})
	m.violations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gearshift_policy_violations",
		Help: "Policy violations of an environment's last judged plan, by rule and severity.",
	}, []string{"environment", "rule", "severity"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gearshift_webhook_deliveries_total",
		Help: "GitHub webhook deliveries by event and result: accepted, pong, ignored, duplicate, bad_signature, too_large, bad_request.",
	}, []string{"event", "result"})
	m.commitToAction = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gearshift_commit_to_first_action_seconds",
		Help:    "From the committer time of a new state commit to the start of the first deploy action it caused.",
		Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600},
	}, []string{"environment"})
	m.envInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gearshift_environment_info",
		Help: "The ref and state commit each environment runs (always 1).",
	}, []string{"environment", "ref", "commit"})
	m.lastReconcile = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gearshift_last_reconcile_timestamp_seconds",
		Help: "When the last reconcile of an environment ended (Unix time).",
	}, []string{"environment"})
	m.reg.MustRegister(m.reconcileDuration, m.reconciles, m.actions, m.unitInfo, m.unitAge, m.unitMaxAge,
		m.violations, m.webhooks, m.commitToAction, m.envInfo, m.lastReconcile,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
