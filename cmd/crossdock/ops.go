package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/ops"
)

const dlqUsage = `usage:
  crossdock dlq list   [--account A | --warehouse W] [--code C] [--limit N] [--json]
  crossdock dlq show    <seq>
  crossdock dlq redrive <seq> [<seq>...]
common flags (also CROSSDOCK_NATS_URL, CROSSDOCK_ADMIN_TOKEN):
  --nats-url URL  the hub's NATS (default nats://127.0.0.1:4222)
  --token T       the operator's NATS token: the hub's admin token
                  (the hub must run with --admin-token or CROSSDOCK_ADMIN_TOKEN)
  --nats-ca FILE  the CA of the NATS servers' TLS certificates (CROSSDOCK_NATS_CA)`

// opsFlags are the connection flags every operator command takes.
func opsFlags(name string) (*flag.FlagSet, *string, *bus.Credentials) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	url := fs.String("nats-url", envOr("CROSSDOCK_NATS_URL", "nats://127.0.0.1:4222"), "the hub's NATS URL")
	cred := &bus.Credentials{}
	fs.StringVar(&cred.Token, "token", os.Getenv("CROSSDOCK_ADMIN_TOKEN"), "operator NATS token (the hub's admin token)")
	fs.StringVar(&cred.CAFile, "nats-ca", os.Getenv("CROSSDOCK_NATS_CA"), "CA file of the NATS servers' TLS certificates")
	return fs, url, cred
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// connectOps opens the operator's connection and the actions on it.
func connectOps(url string, cred *bus.Credentials) (*ops.Ops, func(), error) {
	nc, err := bus.Dial(url, nil, "crossdock-ops", *cred, nats.Timeout(5*time.Second), nats.MaxReconnects(20))
	if err != nil {
		return nil, nil, explainConnect(cred.Token, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return ops.New(js, nil), nc.Close, nil
}

// explainConnect turns a refused connection into what the operator should
// do: the hub's NATS lets the operator in with the admin token only. err is
// bus.Dial's, which names the URL already.
func explainConnect(token string, err error) error {
	if !errors.Is(err, nats.ErrAuthorization) {
		return err
	}
	if token == "" {
		return fmt.Errorf("%w: operator commands need the hub's admin token as the NATS token "+
			"(--token or CROSSDOCK_ADMIN_TOKEN, the value the hub was started with as --admin-token; a hub without one has no operator access)", err)
	}
	return fmt.Errorf("%w: the hub refused this token; use the hub's --admin-token (CROSSDOCK_ADMIN_TOKEN)", err)
}

func opsContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func dlqCommand(args []string) error {
	return dlq(args, os.Stdout)
}

func dlq(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(dlqUsage)
	}
	verb := args[0]
	switch verb {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, dlqUsage)
		return nil
	}
	fs, url, cred := opsFlags("dlq " + verb)
	var f ops.Filter
	var asJSON bool
	if verb == "list" {
		fs.StringVar(&f.Account, "account", "", "only this account's dead letters")
		fs.StringVar(&f.Warehouse, "warehouse", "", "only this warehouse's dead letters")
		fs.StringVar(&f.Code, "code", "", "only dead letters with this code")
		fs.IntVar(&f.Limit, "limit", 100, "the newest N")
		fs.BoolVar(&asJSON, "json", false, "one JSON object per line")
	}
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, a := range positional {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("%q is not a dead letter's sequence number", a)
		}
		seqs = append(seqs, n)
	}
	switch {
	case verb == "list" && len(seqs) > 0:
		return fmt.Errorf("list takes no arguments\n%s", dlqUsage)
	case verb == "show" && len(seqs) != 1:
		return fmt.Errorf("show takes one sequence number\n%s", dlqUsage)
	case verb == "redrive" && len(seqs) == 0:
		return fmt.Errorf("redrive takes sequence numbers\n%s", dlqUsage)
	case verb != "list" && verb != "show" && verb != "redrive":
		return fmt.Errorf("unknown dlq command %q\n%s", verb, dlqUsage)
	}
	o, closeConn, err := connectOps(*url, cred)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, stop := opsContext()
	defer stop()
	switch verb {
	case "list":
		dls, err := o.List(ctx, f)
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			for _, d := range dls {
				_ = enc.Encode(d)
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tCODE\tORIGINAL SUBJECT\tEVENT ID\tATTEMPTS\tRESPONSE")
		for _, d := range dls {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Seq, d.Time.Format(time.RFC3339), d.Code, d.OriginalSubject, d.EventID, d.Attempts, oneLine(d.Response, 60))
		}
		return tw.Flush()
	case "show":
		d, err := o.Show(ctx, seqs[0])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	default:
		var errs []error
		for _, seq := range seqs {
			res, err := o.Redrive(ctx, seq)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			where := res.Subject
			if res.Action == "delivered" {
				where = res.Endpoint
			}
			fmt.Fprintf(stdout, "%d %s to %s\n", seq, res.Action, where)
		}
		return errors.Join(errs...)
	}
}

// parseInterspersed parses flags before, between and after positional
// arguments (crossdock dlq show 42 --token T) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

const replayUsage = `usage:
  crossdock replay --account A | --warehouse W --since T [--until T] [--types order.accepted,...]
T is RFC 3339 (2026-11-24T00:00:00Z) or a duration back from now (24h).
Flags --nats-url and --token as for crossdock dlq`

func replayCommand(args []string) error {
	return replay(args, os.Stdout, time.Now())
}

func replay(args []string, stdout io.Writer, now time.Time) error {
	fs, url, cred := opsFlags("replay")
	var req ops.ReplayRequest
	var since, until, types string
	fs.StringVar(&req.Account, "account", "", "the account whose events to send again")
	fs.StringVar(&req.Warehouse, "warehouse", "", "or the warehouse whose events to send again")
	fs.StringVar(&since, "since", "", "from this time (RFC 3339, or a duration back from now such as 24h)")
	fs.StringVar(&until, "until", "", "up to this time (default: now)")
	fs.StringVar(&types, "types", "", "comma list of event names or types (default: all)")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), replayUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (req.Account == "") == (req.Warehouse == "") || since == "" || fs.NArg() > 0 {
		return errors.New(replayUsage)
	}
	var err error
	if req.Since, err = parseWhen(since, now); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if until != "" {
		if req.Until, err = parseWhen(until, now); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	for t := range strings.SplitSeq(types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			req.Types = append(req.Types, t)
		}
	}
	o, closeConn, err := connectOps(*url, cred)
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, stop := opsContext()
	defer stop()
	res, err := o.Replay(ctx, req)
	fmt.Fprintf(stdout, "sent %d, skipped %d (other types)\n", res.Sent, res.Skipped)
	return err
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time or a duration such as 24h", s)
}
