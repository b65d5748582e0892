// The node tier's application: one static binary, the only file of an image that has no
// libc, no shell and no NSS (like a distroless or scratch image), and also inside the
// Debian-like image. What it does is driven by its arguments:
//
//	app serve   HTTP on $APP_PORT (8080): /healthz 200; /ready 503 until POST /admin/ready;
//	            /env the environment; /pid its PID; /warm counts a hit (and logs it, with
//	            whether /ready passed then), /warm-count says "HITS BEFORE_READY". On
//	            SIGTERM it reports to $NOTIFY_URL (if set) and exits 0.
//	app job     prints its PID and $JOB_MESSAGE, sleeps $JOB_SECONDS (default 1), exits $JOB_EXIT (0).
//	app notify EVENT  reports EVENT to $NOTIFY_URL and exits 0 (a preStop command of an
//	            image without a shell).
package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// notify tells the test (listening on the node's bridge address) what happened here.
func notify(event string) {
	target := os.Getenv("NOTIFY_URL")
	if target == "" {
		return
	}
	host, _ := os.Hostname()
	form := url.Values{"event": {event}, "pod": {host}, "pid": {strconv.Itoa(os.Getpid())}}
	client := http.Client{Timeout: 3 * time.Second}
	if res, err := client.PostForm(target, form); err == nil {
		res.Body.Close()
	} else {
		fmt.Fprintf(os.Stderr, "app: notify %s: %v\n", target, err)
	}
}

func serve() {
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/admin/ready", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST", http.StatusMethodNotAllowed)
			return
		}
		ready.Store(true)
		fmt.Println("app: /ready now passes")
		fmt.Fprintln(w, "ok")
	})
	var hits, hitsBeforeReady atomic.Int64
	mux.HandleFunc("/warm", func(w http.ResponseWriter, _ *http.Request) {
		wasReady := ready.Load()
		if !wasReady {
			hitsBeforeReady.Add(1)
		}
		fmt.Printf("app: warm-up hit %d (/ready passing: %v)\n", hits.Add(1), wasReady)
		fmt.Fprintln(w, "warm")
	})
	mux.HandleFunc("/warm-count", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d %d\n", hits.Load(), hitsBeforeReady.Load())
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, strings.Join(os.Environ(), "\n")) })
	mux.HandleFunc("/pid", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, os.Getpid()) })

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		fmt.Printf("app: got %v as pid %d\n", sig, os.Getpid())
		notify(fmt.Sprintf("signal %v", sig))
		os.Exit(0)
	}()
	addr := ":" + env("APP_PORT", "8080")
	fmt.Printf("app: pid %d serving on %s\n", os.Getpid(), addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

func job() {
	seconds, _ := strconv.ParseFloat(env("JOB_SECONDS", "1"), 64)
	code, _ := strconv.Atoi(env("JOB_EXIT", "0"))
	fmt.Printf("app: job pid %d: %s\n", os.Getpid(), os.Getenv("JOB_MESSAGE"))
	time.Sleep(time.Duration(seconds * float64(time.Second)))
	fmt.Printf("app: job done, exit %d\n", code)
	os.Exit(code)
}

func main() {
	mode := "serve"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "serve":
		serve()
	case "job":
		job()
	case "notify":
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "app: notify EVENT")
			os.Exit(2)
		}
		fmt.Printf("app: notify %s\n", os.Args[2])
		notify(os.Args[2])
	default:
		fmt.Fprintf(os.Stderr, "app: unknown mode %q (serve, job or notify)\n", mode)
		os.Exit(2)
	}
}
