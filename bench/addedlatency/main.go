// Command addedlatency measures the latency scopegate adds to a model call:
// it sends the same small chat completion, one request at a time, directly
// to an upstream and through the gateway, interleaved so both see the same
// machine noise, and prints percentiles of each and their difference.
//
// It is run by bench/added-latency.sh, which starts the processes pinned to
// cores; see docs/benchmarks.md.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"
)

func main() {
	direct := flag.String("direct", "", "upstream chat completions URL")
	gateway := flag.String("gateway", "", "gateway chat completions URL")
	key := flag.String("key", os.Getenv("SCOPEGATE_BENCH_KEY"), "gateway key (default $SCOPEGATE_BENCH_KEY)")
	n := flag.Int("n", 5000, "requests to each target")
	warmup := flag.Int("warmup", 500, "unmeasured requests to each target first")
	model := flag.String("model", "mock-small", "model to ask for")
	flag.Parse()
	if *direct == "" || *gateway == "" || *key == "" {
		fmt.Fprintln(os.Stderr, "usage: addedlatency -direct URL -gateway URL -key KEY [-n N]")
		os.Exit(2)
	}
	body := []byte(`{"model":"` + *model + `","messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":16}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	send := func(url string) time.Duration {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+*key)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "request failed:", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "%s answered %d\n", url, resp.StatusCode)
			os.Exit(1)
		}
		return d
	}
	for range *warmup {
		send(*direct)
		send(*gateway)
	}
	var ds, gs []time.Duration
	for range *n {
		ds = append(ds, send(*direct))
		gs = append(gs, send(*gateway))
	}
	slices.Sort(ds)
	slices.Sort(gs)
	fmt.Printf("%-8s %10s %10s %10s %10s\n", "", "p50", "p90", "p99", "p99.9")
	row := func(name string, f func(q float64) time.Duration) {
		fmt.Printf("%-8s %10s %10s %10s %10s\n", name, f(0.50), f(0.90), f(0.99), f(0.999))
	}
	row("direct", func(q float64) time.Duration { return pct(ds, q) })
	row("gateway", func(q float64) time.Duration { return pct(gs, q) })
	row("added", func(q float64) time.Duration { return pct(gs, q) - pct(ds, q) })
	fmt.Printf("ratio p50 gateway/direct: %.2f\n", float64(pct(gs, 0.5))/float64(pct(ds, 0.5)))
}

func pct(sorted []time.Duration, q float64) time.Duration {
	i := int(q * float64(len(sorted)-1))
	return sorted[i].Round(time.Microsecond)
}
