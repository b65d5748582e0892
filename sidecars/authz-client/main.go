// podhooks-authz: the authorization init container. It registers the pod's IP and
// ports with the authorization service once, and is built so that a mass rollout
// cannot turn it into a retry storm: it waits its admission-time start offset first,
// bounds every call, the number of attempts and the total time, backs off with full
// jitter, and honours Retry-After. Standard library only, built static (CGO_ENABLED=0).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Exit codes: 0 authorized (or failed open), 1 denied by the service (403; a decision,
// so fail-open does not apply), 2 failed closed, 64 bad configuration.
const (
	exitDenied = 1
	exitClosed = 2
	exitUsage  = 64
)

// minSleep keeps a zero jitter draw from turning into a hot retry loop.
const minSleep = 10 * time.Millisecond

type options struct {
	url, podIP, podName, namespace, podUID, failMode, terminationLog string
	ports                                                            []int
	timeout, baseBackoff, maxBackoff, deadline, startOffset          time.Duration
	maxAttempts                                                      int
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func parseMillis(field, value string, allowZero bool) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil || n < 0 || (n == 0 && !allowZero) {
		return 0, usageError{fmt.Sprintf("%s=%q is not a valid number of milliseconds (want an integer %s)", field, value, map[bool]string{true: ">= 0", false: "> 0"}[allowZero])}
	}
	return time.Duration(n) * time.Millisecond, nil
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("podhooks-authz", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	u := fs.String("url", env("PODHOOKS_AUTHZ_URL", ""), "authorization service URL (env PODHOOKS_AUTHZ_URL)")
	ip := fs.String("pod-ip", env("PODHOOKS_POD_IP", ""), "pod IP (env PODHOOKS_POD_IP, downward API status.podIP)")
	name := fs.String("pod-name", env("PODHOOKS_POD_NAME", ""), "pod name (env PODHOOKS_POD_NAME)")
	ns := fs.String("namespace", env("PODHOOKS_POD_NAMESPACE", ""), "pod namespace (env PODHOOKS_POD_NAMESPACE)")
	uid := fs.String("pod-uid", env("PODHOOKS_POD_UID", ""), "pod uid, the idempotency key (env PODHOOKS_POD_UID)")
	ports := fs.String("ports", env("PODHOOKS_AUTHZ_PORTS", ""), "comma-separated ports (env PODHOOKS_AUTHZ_PORTS)")
	timeout := fs.String("timeout-ms", env("PODHOOKS_AUTHZ_TIMEOUT_MS", "2000"), "per-call timeout")
	attempts := fs.String("max-attempts", env("PODHOOKS_AUTHZ_MAX_ATTEMPTS", "6"), "calls at most")
	base := fs.String("base-backoff-ms", env("PODHOOKS_AUTHZ_BASE_BACKOFF_MS", "200"), "first backoff cap")
	maxB := fs.String("max-backoff-ms", env("PODHOOKS_AUTHZ_MAX_BACKOFF_MS", "10000"), "backoff cap")
	deadline := fs.String("deadline-seconds", env("PODHOOKS_AUTHZ_DEADLINE_SECONDS", "120"), "total time for all calls")
	mode := fs.String("fail-mode", env("PODHOOKS_AUTHZ_FAIL_MODE", "closed"), "closed or open")
	offset := fs.String("start-offset-ms", env("PODHOOKS_AUTHZ_START_OFFSET_MS", ""), "wait before the first call (per-app pacing)")
	term := fs.String("termination-log", env("PODHOOKS_TERMINATION_LOG", "/dev/termination-log"), "where the final message goes")
	if err := fs.Parse(args); err != nil {
		return options{}, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return options{}, usageError{fmt.Sprintf("unexpected argument %q; all settings are flags or PODHOOKS_* env vars", fs.Arg(0))}
	}
	o := options{url: *u, podIP: *ip, podName: *name, namespace: *ns, podUID: *uid, failMode: *mode, terminationLog: *term}
	if parsed, err := url.Parse(o.url); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return o, usageError{fmt.Sprintf("PODHOOKS_AUTHZ_URL=%q is not an absolute http:// or https:// URL (set authz.url in the podhooks config)", o.url)}
	}
	for field, v := range map[string]string{"PODHOOKS_POD_IP": o.podIP, "PODHOOKS_POD_NAME": o.podName, "PODHOOKS_POD_NAMESPACE": o.namespace, "PODHOOKS_POD_UID": o.podUID} {
		if v == "" {
			return o, usageError{field + " is empty; the webhook sets it from the downward API"}
		}
	}
	for _, p := range strings.Split(*ports, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return o, usageError{fmt.Sprintf("PODHOOKS_AUTHZ_PORTS=%q: %q is not a port from 1 to 65535", *ports, p)}
		}
		o.ports = append(o.ports, n)
	}
	if len(o.ports) == 0 {
		return o, usageError{fmt.Sprintf("PODHOOKS_AUTHZ_PORTS=%q lists no port", *ports)}
	}
	if o.failMode != "closed" && o.failMode != "open" {
		return o, usageError{fmt.Sprintf("PODHOOKS_AUTHZ_FAIL_MODE=%q must be closed or open", o.failMode)}
	}
	n, err := strconv.Atoi(strings.TrimSpace(*attempts))
	if err != nil || n < 1 || n > 1000 {
		return o, usageError{fmt.Sprintf("PODHOOKS_AUTHZ_MAX_ATTEMPTS=%q must be an integer from 1 to 1000", *attempts)}
	}
	o.maxAttempts = n
	if o.timeout, err = parseMillis("PODHOOKS_AUTHZ_TIMEOUT_MS", *timeout, false); err != nil {
		return o, err
	}
	if o.baseBackoff, err = parseMillis("PODHOOKS_AUTHZ_BASE_BACKOFF_MS", *base, false); err != nil {
		return o, err
	}
	if o.maxBackoff, err = parseMillis("PODHOOKS_AUTHZ_MAX_BACKOFF_MS", *maxB, false); err != nil {
		return o, err
	}
	secs, err := strconv.Atoi(strings.TrimSpace(*deadline))
	if err != nil || secs < 1 {
		return o, usageError{fmt.Sprintf("PODHOOKS_AUTHZ_DEADLINE_SECONDS=%q must be an integer >= 1", *deadline)}
	}
	o.deadline = time.Duration(secs) * time.Second
	// The offset comes from a pod annotation through the downward API: absent means
	// the pod was injected offline, without pacing, so no wait.
	if strings.TrimSpace(*offset) != "" {
		if o.startOffset, err = parseMillis("PODHOOKS_AUTHZ_START_OFFSET_MS", *offset, true); err != nil {
			return o, err
		}
	}
	return o, nil
}

// retryAfter reads Retry-After as delta-seconds or an HTTP date; ok is false when absent or unreadable.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// backoff is "full jitter": uniform in [0, min(max, base*2^(attempt-1))].
func backoff(o options, attempt int, rnd *rand.Rand) time.Duration {
	ceiling := o.maxBackoff
	if attempt-1 < 30 {
		if c := o.baseBackoff << uint(attempt-1); c > 0 && c < ceiling {
			ceiling = c
		}
	}
	d := time.Duration(rnd.Int63n(int64(ceiling) + 1))
	if d < minSleep {
		d = minSleep
	}
	return d
}

type result struct {
	status   int
	retry    bool
	after    time.Duration
	hasAfter bool
	detail   string
}

func retryable(status int) bool {
	switch status {
	case 408, 425, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

func call(ctx context.Context, client *http.Client, o options, body []byte, attempt int) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return result{detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", o.podUID)
	req.Header.Set("User-Agent", "podhooks-authz/0.1")
	req.Header.Set("X-Podhooks-Attempt", strconv.Itoa(attempt))
	resp, err := client.Do(req)
	if err != nil {
		return result{retry: true, detail: err.Error()}
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	r := result{status: resp.StatusCode, retry: retryable(resp.StatusCode), detail: strings.TrimSpace(string(text))}
	if resp.StatusCode == 429 || resp.StatusCode == 503 {
		r.after, r.hasAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r
}

func say(format string, args ...any) { fmt.Fprintf(os.Stderr, "podhooks-authz: "+format+"\n", args...) }

func finish(o options, code int, summary, message string) int {
	if o.terminationLog != "" {
		if err := os.WriteFile(o.terminationLog, []byte(message+"\n"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			say("could not write the termination message to %s: %v", o.terminationLog, err)
		}
	}
	say("%s", message)
	// One machine-readable line on stdout, for tests and log scrapers.
	fmt.Println(summary)
	return code
}

func run(args []string) int {
	o, err := parseOptions(args)
	if err != nil {
		say("configuration error: %v", err)
		fmt.Printf("outcome=config-error attempts=0\n")
		return exitUsage
	}
	pod := o.namespace + "/" + o.podName
	if o.startOffset > 0 {
		say("pod %s: waiting %s before calling %s (per-app pacing set at admission)", pod, o.startOffset, o.url)
		time.Sleep(o.startOffset)
	}
	body, _ := json.Marshal(map[string]any{"podUID": o.podUID, "namespace": o.namespace, "pod": o.podName, "podIP": o.podIP, "ports": o.ports})
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}
	rnd := rand.New(rand.NewSource(time.Now().UnixNano() ^ int64(os.Getpid())<<20))
	start := time.Now()
	end := start.Add(o.deadline)
	attempts := 0
	var last string
	for attempts < o.maxAttempts {
		remaining := time.Until(end)
		if remaining <= 0 {
			last = fmt.Sprintf("deadline of %s reached (%s)", o.deadline, last)
			break
		}
		attempts++
		perCall := o.timeout
		if remaining < perCall {
			perCall = remaining
		}
		ctx, cancel := context.WithTimeout(context.Background(), perCall)
		r := call(ctx, client, o, body, attempts)
		cancel()
		if r.status >= 200 && r.status < 300 {
			return finish(o, 0, fmt.Sprintf("outcome=authorized attempts=%d status=%d", attempts, r.status),
				fmt.Sprintf("pod %s authorized for %s on ports %v (HTTP %d, attempt %d of %d)", pod, o.podIP, o.ports, r.status, attempts, o.maxAttempts))
		}
		if r.status == http.StatusForbidden {
			return finish(o, exitDenied, fmt.Sprintf("outcome=denied attempts=%d status=403", attempts),
				fmt.Sprintf("pod %s DENIED by the authorization service %s (HTTP 403): %s", pod, o.url, r.detail))
		}
		if r.status != 0 {
			last = fmt.Sprintf("HTTP %d: %s", r.status, r.detail)
		} else {
			last = r.detail
		}
		if !r.retry {
			last = "not retryable: " + last
			break
		}
		if attempts >= o.maxAttempts {
			break
		}
		wait := backoff(o, attempts, rnd)
		if r.hasAfter {
			// At least what the service asked for, plus a little jitter so clients told
			// the same Retry-After do not come back in lockstep.
			wait = r.after + time.Duration(rnd.Int63n(int64(o.baseBackoff)+1))
			if wait < minSleep {
				wait = minSleep // "Retry-After: 0" must not become a hot loop either
			}
			if wait >= time.Until(end) {
				last = fmt.Sprintf("%s; the service asked to retry after %s, beyond the %s deadline", last, r.after, o.deadline)
				break
			}
		}
		if wait > time.Until(end) {
			wait = time.Until(end)
		}
		say("attempt %d of %d failed (%s); retrying in %s", attempts, o.maxAttempts, last, wait.Round(time.Millisecond))
		time.Sleep(wait)
	}
	elapsed := time.Since(start).Round(time.Millisecond)
	why := fmt.Sprintf("gave up after %d of %d attempts in %s: %s", attempts, o.maxAttempts, elapsed, last)
	if o.failMode == "open" {
		return finish(o, 0, fmt.Sprintf("outcome=failed-open attempts=%d", attempts),
			fmt.Sprintf("WARNING: pod %s starts WITHOUT authorization (authz.failMode=open): %s %s", pod, o.url, why))
	}
	return finish(o, exitClosed, fmt.Sprintf("outcome=failed-closed attempts=%d", attempts),
		fmt.Sprintf("pod %s NOT authorized, staying in Init (authz.failMode=closed): %s %s. Check that service; the pod's init container restarts per its restartPolicy", pod, o.url, why))
}

func main() { os.Exit(run(os.Args[1:])) }
