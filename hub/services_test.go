package hub

import (
	"os"
	"strings"
	"testing"
)

// The operators' page lists every service of the table, with the streams and
// consumers it reads, so that the docs cannot drift from what runs.
func TestOperationsPageListsEveryService(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(page), "\n") {
		if name, ok := strings.CutPrefix(line, "| `crossdock --services "); ok {
			name, _, _ = strings.Cut(name, "`")
			rows[name] = line
		}
	}
	for _, s := range services {
		row, ok := rows[s.name]
		if !ok {
			t.Errorf("docs/operations.md has no row for `crossdock --services %s`", s.name)
			continue
		}
		if !strings.Contains(row, "Consumes "+s.consumes) {
			t.Errorf("docs/operations.md's row for %s = %q, want it to say Consumes %s", s.name, row, s.consumes)
		}
		delete(rows, s.name)
	}
	for name := range rows {
		t.Errorf("docs/operations.md lists `crossdock --services %s`, which is not a service", name)
	}
}

func TestValidateTakesEveryServiceOfTheTable(t *testing.T) {
	t.Parallel()
	for _, names := range [][]string{{"all"}, Services()} {
		cfg := Config{Fsync: "interval", Replicas: 1, Data: t.TempDir(), Accounts: "accounts.yaml", Services: names}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(--services %s) = %v, want nil", strings.Join(names, ","), err)
		}
	}
	cfg := Config{Fsync: "interval", Replicas: 1, Data: t.TempDir(), Accounts: "accounts.yaml", Services: []string{"gateway", "edi"}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `"edi"`) {
		t.Errorf("Validate(--services gateway,edi) = %v, want an error naming edi (it runs with the gateway)", err)
	}
}
