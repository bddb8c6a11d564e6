package race

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Chart is a horizontal bar chart: one block of bars per group, one bar per
// series in each block (the contenders), each bar labelled with its value.
type Chart struct {
	Title string
	Note  string // under the title: what is better, the machine's load
	// Groups name the blocks; a single "" group draws one block untitled.
	Groups []string
	Series []string
	// Values[g][s] is series s in group g; NaN draws "n/a".
	Values [][]float64
	// Format renders a value (default "%.3g"); Unit follows it.
	Format string
	Unit   string
	// GroupScales gives each group its own scale, for groups that measure
	// different things; otherwise all bars share one.
	GroupScales bool
}

// seriesColor gives each contender the same colour in every chart.
func seriesColor(name string, i int) color.RGBA {
	switch {
	case strings.HasPrefix(name, Leaselock):
		return color.RGBA{0x1f, 0x6f, 0xb4, 0xff}
	case strings.HasPrefix(name, Dynamolock):
		return color.RGBA{0xe8, 0x80, 0x1a, 0xff}
	case name == Floor || strings.HasPrefix(name, "memstore"):
		return color.RGBA{0x8c, 0x8c, 0x8c, 0xff}
	}
	palette := []color.RGBA{{0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0xd6, 0x27, 0x28, 0xff}}
	return palette[i%len(palette)]
}

var faces = sync.OnceValues(func() (map[string]font.Face, error) {
	reg, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, err
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, err
	}
	out := map[string]font.Face{}
	for name, spec := range map[string]struct {
		f    *opentype.Font
		size float64
	}{"text": {reg, 13}, "title": {bold, 16}, "group": {bold, 13}} {
		face, err := opentype.NewFace(spec.f, &opentype.FaceOptions{Size: spec.size, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return nil, err
		}
		out[name] = face
	}
	return out, nil
})

// Chart geometry, in pixels.
const (
	chartWidth  = 880
	margin      = 16
	labelWidth  = 190
	valueWidth  = 150
	barHeight   = 20
	barGap      = 6
	groupHeader = 24
	groupGap    = 10
	titleHeight = 54
)

// WritePNG draws c as a PNG image.
func (c Chart) WritePNG(w io.Writer) error {
	fs, err := faces()
	if err != nil {
		return err
	}
	format := c.Format
	if format == "" {
		format = "%.3g"
	}
	height := titleHeight + margin
	for _, g := range c.Groups {
		if g != "" {
			height += groupHeader
		}
		height += len(c.Series)*(barHeight+barGap) + groupGap
	}
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)

	text := func(face font.Face, x, y int, col color.Color, s string) int {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
		return d.Dot.X.Round() - x
	}
	measure := func(face font.Face, s string) int { return font.MeasureString(face, s).Round() }
	ink := color.RGBA{0x22, 0x22, 0x22, 0xff}
	grey := color.RGBA{0x66, 0x66, 0x66, 0xff}

	text(fs["title"], margin, margin+14, ink, c.Title)
	text(fs["text"], margin, margin+34, grey, c.Note)

	scale := func(rows [][]float64) float64 {
		m := 0.0
		for _, row := range rows {
			for _, v := range row {
				if !math.IsNaN(v) && v > m {
					m = v
				}
			}
		}
		return m
	}
	maxV := scale(c.Values)
	barLeft := margin + labelWidth
	barSpan := chartWidth - barLeft - valueWidth - margin
	y := titleHeight + margin/2
	for gi, g := range c.Groups {
		if c.GroupScales && gi < len(c.Values) {
			maxV = scale(c.Values[gi : gi+1])
		}
		if g != "" {
			text(fs["group"], margin, y+16, ink, g)
			y += groupHeader
		}
		// The axis line of this block.
		blockH := len(c.Series) * (barHeight + barGap)
		draw.Draw(img, image.Rect(barLeft-1, y-2, barLeft, y+blockH-barGap+2), image.NewUniform(grey), image.Point{}, draw.Src)
		for si, s := range c.Series {
			label := s
			if w := measure(fs["text"], label); w > labelWidth-10 {
				label = label[:max(1, len(label)*(labelWidth-10)/w)]
			}
			text(fs["text"], barLeft-10-measure(fs["text"], label), y+barHeight-5, ink, label)
			v := math.NaN()
			if gi < len(c.Values) && si < len(c.Values[gi]) {
				v = c.Values[gi][si]
			}
			value := "n/a"
			if !math.IsNaN(v) {
				value = fmt.Sprintf(format, v) + c.Unit
				w := 0
				if maxV > 0 {
					w = int(math.Round(v / maxV * float64(barSpan)))
				}
				if v > 0 {
					w = max(w, 1)
				}
				draw.Draw(img, image.Rect(barLeft, y, barLeft+w, y+barHeight),
					image.NewUniform(seriesColor(s, si)), image.Point{}, draw.Src)
				text(fs["text"], barLeft+w+6, y+barHeight-5, ink, value)
			} else {
				text(fs["text"], barLeft+6, y+barHeight-5, grey, value)
			}
			y += barHeight + barGap
		}
		y += groupGap
	}
	return png.Encode(w, img)
}
