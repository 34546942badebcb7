package accounts

import (
	"strings"
	"testing"
)

func TestAccountsFileExperiments(t *testing.T) {
	tests := []struct {
		name string
		exps string // YAML of acme's experiments
		want string // error; empty for a valid file
	}{
		{name: "a named experiment with types and a share is taken", exps: `[{name: eta-showcase, types: [order.accepted, crossdock.order.held.v1], share: 0.25}]`},
		{name: "every type and the whole share are allowed", exps: `[{name: all, types: ["*"], share: 1}]`},
		{name: "a share of zero is refused", exps: `[{name: x, types: [order.accepted], share: 0}]`,
			want: `account "acme": experiments[0].share 0: want more than 0 and at most 1`},
		{name: "a share above one is refused", exps: `[{name: x, types: [order.accepted], share: 1.5}]`,
			want: `account "acme": experiments[0].share 1.5: want more than 0 and at most 1`},
		{name: "an experiment without types is refused", exps: `[{name: x, share: 0.5}]`,
			want: `account "acme": experiments[0].types: name at least one event (order.accepted) or "*"`},
		{name: "a wildcard inside a type is refused", exps: `[{name: x, types: ["order.*"], share: 0.5}]`,
			want: `account "acme": experiments[0].types[0] "order.*": want an event name such as order.accepted, a type, or "*"`},
		{name: "a name that cannot be a subject token is refused", exps: `[{name: "eta.v2", types: [order.accepted], share: 0.5}]`,
			want: `account "acme": experiments[0].name "eta.v2": want 1 to 32 of a-z, 0-9 and -`},
		{name: "two experiments with one name are refused", exps: `[{name: x, types: [a.b], share: 0.5}, {name: x, types: [a.b], share: 0.5}]`,
			want: `account "acme": experiments[1].name "x": named twice`},
		{name: "an unknown experiment key is refused with its path", exps: `[{name: x, types: [a.b], share: 0.5, colour: red}]`,
			want: `account "acme": experiments[0].colour: unknown key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(testFile(), "    webhook:", "    experiments: "+tc.exps+"\n    webhook:", 1)
			f, err := ParseFile([]byte(in), DefaultTiers())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ParseFile() = %v, want no error", err)
				}
				if len(f.Accounts[0].Experiments) == 0 {
					t.Error("acme's experiments were not read")
				}
				return
			}
			if err == nil || err.Error() != "accounts file: "+tc.want {
				t.Errorf("ParseFile() = %v,\nwant %s", err, tc.want)
			}
		})
	}
}
