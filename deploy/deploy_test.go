// Package deploy_test checks the shipped deployment files (docker compose,
// the NATS cluster config) for what no docker is needed to see: every
// service runs, everything has a health check, the nats-server image is the
// version the hub embeds and tests against, and no secret is written down.
package deploy_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/crossdock/crossdock/hub"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) (compose, string) {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c, string(raw)
}

// natsServerVersion is the nats-server version in go.mod.
func natsServerVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("go.mod names no nats-server")
	}
	return string(m[1])
}

func TestComposeRunsEveryServiceWithHealthChecks(t *testing.T) {
	c, _ := readCompose(t)
	version := natsServerVersion(t)
	nodes := []string{"nats1", "nats2", "nats3"}
	for _, n := range nodes {
		s, ok := c.Services[n]
		if !ok {
			t.Errorf("no NATS node %s", n)
			continue
		}
		if want := "nats:" + version + "-alpine"; s.Image != want {
			t.Errorf("%s runs %s, want %s (the nats-server of go.mod)", n, s.Image, want)
		}
		if hc := strings.Join(s.Healthcheck.Test, " "); !strings.Contains(hc, ":8222/healthz?js-enabled-only=true") {
			t.Errorf("%s's health check %q does not ask the monitoring port's /healthz?js-enabled-only=true", n, hc)
		}
		for _, p := range s.Ports {
			if strings.Contains(p, "8222") || strings.Contains(p, "6222") {
				t.Errorf("%s publishes %s: monitoring and routes stay on the internal network", n, p)
			}
		}
	}
	for _, svc := range hub.Services() {
		s, ok := c.Services[svc]
		if !ok {
			t.Errorf("no process runs the %s service", svc)
			continue
		}
		if i := slices.Index(s.Command, "--services"); i < 0 || i+1 >= len(s.Command) || s.Command[i+1] != svc {
			t.Errorf("%s runs %v, want --services %s", svc, s.Command, svc)
		}
		if hc := strings.Join(s.Healthcheck.Test, " "); !strings.Contains(hc, "/readyz") {
			t.Errorf("%s's health check %q does not ask /readyz", svc, hc)
		}
		for _, n := range nodes {
			if s.DependsOn[n].Condition != "service_healthy" {
				t.Errorf("%s does not wait for %s to be healthy", svc, n)
			}
		}
		if s.Environment["CROSSDOCK_REPLICAS"] != "3" {
			t.Errorf("%s keeps %q replicas, want 3", svc, s.Environment["CROSSDOCK_REPLICAS"])
		}
		if s.Environment["CROSSDOCK_NATS_CALLOUT_ISSUER"] == "" {
			t.Errorf("%s does not answer the cluster's auth callout", svc)
		}
	}
}

// secretish are the names of settings that hold secrets.
var secretish = regexp.MustCompile(`PASSWORD|TOKEN|SEED|SECRET|ROUTE_\d`)

func TestComposeWritesNoSecretDown(t *testing.T) {
	c, raw := readCompose(t)
	for name, s := range c.Services {
		for k, v := range s.Environment {
			if secretish.MatchString(k) && !strings.Contains(v, "${") {
				t.Errorf("%s sets %s to a literal value; read it from .env", name, k)
			}
		}
	}
	// Every variable the file reads is in .env.example, and .env is ignored.
	example := map[string]bool{}
	f, err := os.Open("../.env.example")
	if err != nil {
		t.Fatalf(".env.example: %v", err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if k, _, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			example[k] = true
		}
	}
	vars := regexp.MustCompile(`\$\{([A-Z0-9_]+)`).FindAllStringSubmatch(raw, -1)
	vars = append(vars, regexp.MustCompile(`environment: ([A-Z0-9_]+)`).FindAllStringSubmatch(raw, -1)...)
	for _, m := range vars {
		if !example[m[1]] {
			t.Errorf("docker-compose.yml reads %s, which .env.example does not set", m[1])
		}
	}
	ignore, err := os.ReadFile("../.gitignore")
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), ".env") {
		t.Errorf(".gitignore does not ignore .env")
	}
}
