//go:build race

package install

// raceEnabled is set under -race: the helper processes of the crash test are then
// several times slower, and the corpus variant is skipped unless asked for.
const raceEnabled = true
