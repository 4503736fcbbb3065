// Command gendata writes a benchmark data set: N generated agents (tests/bench/dataset) into
// a new SQLite database through the SDK's store, the same agents as the OPA server's data
// document, their ids, one a line, for the load driver, and optionally a freshly minted API
// key to bootstrap the server with (KAVACH_BOOTSTRAP_ADMIN_KEY).
//
//	go run ./tests/bench/gendata -n 10000 -db /tmp/k.db -opa-data /tmp/data.json -ids /tmp/ids.txt
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/tests/bench/dataset"
)

func main() {
	n := flag.Int("n", 10_000, "number of agents")
	db := flag.String("db", "", "SQLite database to create (must not exist)")
	opaData := flag.String("opa-data", "", "write the OPA data document here")
	ids := flag.String("ids", "", "write the agent ids here, one a line")
	apiKey := flag.String("api-key", "", "write a newly minted API key here (mode 0600)")
	own := flag.Bool("own", false, "give each agent a permission of its own (dataset.OwnPermission), so that no two share a profile")
	flag.Parse()
	if *apiKey != "" {
		if err := os.WriteFile(*apiKey, []byte(agent.MintAPIKey()+"\n"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "gendata:", err)
			os.Exit(1)
		}
	}
	if err := run(*n, *db, *opaData, *ids, *own); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func run(n int, db, opaData, idsPath string, own bool) (err error) {
	if db == "" || opaData == "" || idsPath == "" {
		return errors.New("-db, -opa-data and -ids are required")
	}
	if _, err := os.Stat(db); err == nil {
		return fmt.Errorf("%s exists: the data set goes into a new database", db)
	}
	ctx := context.Background()
	s, err := kavach.OpenStore(ctx, "sqlite://"+db)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	dataFile, err := os.Create(opaData)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, dataFile.Close()) }()
	idsFile, err := os.Create(idsPath)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, idsFile.Close()) }()

	start := time.Now()
	// The OPA document and the ids are written by another goroutine, while the store
	// writes the next batch.
	stored := make(chan *agent.Agent, 2*dataset.PopulateBatch)
	written := make(chan error, 1)
	go func() { written <- writeFiles(stored, dataFile, idsFile) }()
	var adjust []func(*agent.Agent, int)
	if own {
		adjust = append(adjust, dataset.OwnPermission)
	}
	err = dataset.Populate(ctx, s, n, func(a *agent.Agent, _ string) error {
		stored <- a
		return nil
	}, adjust...)
	close(stored)
	if err := errors.Join(err, <-written); err != nil {
		return err
	}
	fmt.Printf("gendata: %d agents × %d permissions in %s\n", n, len(dataset.Permissions()), time.Since(start).Round(time.Millisecond))
	return nil
}

// writeFiles writes each agent to the OPA data document and its id to the ids file, and
// drains agents even after an error.
func writeFiles(agents <-chan *agent.Agent, dataFile, idsFile *os.File) error {
	data := dataset.NewOPAData(dataFile)
	idw := bufio.NewWriter(idsFile)
	var err error
	for a := range agents {
		if err != nil {
			continue
		}
		if _, err = idw.WriteString(a.ID + "\n"); err == nil {
			err = data.Add(a)
		}
	}
	if err != nil {
		return err
	}
	return errors.Join(data.Close(), idw.Flush())
}
