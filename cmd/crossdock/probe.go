package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

const probeUsage = `usage:
  crossdock probe [--ca FILE] URL
GETs URL (the hub's /readyz) and succeeds on a 2xx answer: the health check
of an image without a shell (docker-compose.yml)`

// probe is a container health check: GET a URL, exit 0 on a 2xx.
func probe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	ca := fs.String("ca", "", "CA file to trust for an https URL (default: the system's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(probeUsage)
	}
	tr := &http.Transport{}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca %s: no certificate", *ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	res, err := client.Get(fs.Arg(0))
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", fs.Arg(0), res.Status)
	}
	return nil
}
