package hub

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// instrument observes every HTTP request by the route that served it (the
// innermost ServeMux pattern, such as "POST /v1/events", so the label set
// stays small) and its status code.
func instrument(next http.Handler, reg prometheus.Registerer) http.Handler {
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "crossdock_http_request_seconds",
		Help:    "HTTP requests by route and status code, and how long they took.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 10),
	}, []string{"route", "code"})
	reg.MustRegister(seconds)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		seconds.WithLabelValues(route, strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
	})
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
