package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"

	kavach "github.com/kavachos/kavach-go"
)

// A `kavach serve` on a SQLite file holds a marker beside it — the file's name plus
// ".serve", locked while the server runs and removed when it stops — naming the server's
// pid and address. A CLI command that writes to the same file finds it and says, once, that
// a server uses the file. The change reaches the server through the store's change log, so
// this is a note, not a refusal. A marker nobody holds is left over from a server that did
// not stop cleanly, and means nothing.

// serveMarker is what the marker holds.
type serveMarker struct {
	PID int    `json:"pid"`
	URL string `json:"url"`
}

// markerPath is the marker's file for a SQLite database; other databases have none.
func markerPath(database string) (string, bool) {
	if database == "" {
		database = kavach.DefaultDatabase
	}
	path, ok := strings.CutPrefix(database, "sqlite://")
	if !ok || path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") || strings.Contains(path, ":memory:") {
		return "", false
	}
	return path + ".serve", true
}

// holdServeMarker writes and locks the marker of database for a server listening at url;
// the returned function removes it. If another server on the same file holds the marker,
// it is left alone.
func holdServeMarker(database, url string, log *slog.Logger) (release func()) {
	nothing := func() {}
	path, ok := markerPath(database)
	if !ok {
		return nothing
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		log.Warn("no marker for the CLI beside this server", "path", path, "error", err)
		return nothing
	}
	if err := lockMarker(f); err != nil {
		f.Close() // another server uses this file and holds the marker
		return nothing
	}
	b, _ := json.Marshal(serveMarker{PID: os.Getpid(), URL: url})
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		log.Warn("no marker for the CLI beside this server", "path", path, "error", err)
	}
	return func() {
		os.Remove(path)
		f.Close()
	}
}

// runningServe returns the server that holds the marker of database, if one does.
func runningServe(database string) (serveMarker, bool) {
	var m serveMarker
	path, ok := markerPath(database)
	if !ok {
		return m, false
	}
	f, err := os.Open(path)
	if err != nil {
		return m, false
	}
	defer f.Close()
	if !markerHeld(f) || json.NewDecoder(f).Decode(&m) != nil {
		return m, false
	}
	return m, m.PID > 0 && m.PID != os.Getpid()
}

// changingCommands are the commands that change what a server decides from: the ones a
// server beside the CLI should hear about.
var changingCommands = map[string]bool{
	"agent create": true, "agent update": true, "agent rotate": true, "agent revoke": true,
	"delegate": true, "delegation revoke": true, "api-key create": true, "api-key revoke": true,
	"tenant create": true, "approvals approve": true, "approvals deny": true,
}

// noteRunningServe prepares, for a command that changes the local database, the note that a
// running server uses it; the note is printed once the command has succeeded.
func (g *globals) noteRunningServe() {
	if g.cmd == nil || !changingCommands[strings.TrimPrefix(g.cmd.CommandPath(), g.cmd.Root().Name()+" ")] {
		return
	}
	if m, ok := runningServe(g.database); ok {
		g.note = fmt.Sprintf("note: a running kavach serve (pid %d, %s) uses this database; the change reaches it within a second", m.PID, m.URL)
	}
}
