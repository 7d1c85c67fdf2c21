//go:build !race

package anomaly

// detRaceEnabled says the race detector is on: the memory test then runs
// at a tenth of its scale.
const detRaceEnabled = false
