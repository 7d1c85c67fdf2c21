package anomaly

import (
	"strconv"
	"time"
)

// figureList builds an alert's figures: space-separated name=value pairs.
// Values are written so that splitting on spaces and the first "=" reads
// them back: bytes that are spaces or control characters become "_".
type figureList []byte

func (f *figureList) name(name string) {
	if len(*f) > 0 {
		*f = append(*f, ' ')
	}
	*f = append(*f, name...)
	*f = append(*f, '=')
}

// str adds name=v, unless v is empty.
func (f *figureList) str(name, v string) {
	if v == "" {
		return
	}
	f.name(name)
	for i := range len(v) {
		c := v[i]
		if c <= ' ' || c == 0x7f {
			c = '_'
		}
		*f = append(*f, c)
	}
}

func (f *figureList) int(name string, v int64) {
	f.name(name)
	*f = strconv.AppendInt(*f, v, 10)
}

// float adds v with one decimal.
func (f *figureList) float(name string, v float64) {
	f.name(name)
	*f = strconv.AppendFloat(*f, v, 'f', 1, 64)
}

func (f *figureList) dur(name string, d time.Duration) {
	f.name(name)
	*f = append(*f, d.String()...)
}

func (f figureList) String() string { return string(f) }
