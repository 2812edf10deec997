package modbus

import "sort"

// Read is one planned Modbus request and the points it serves.
type Read struct {
	Table    Table
	Address  uint16
	Quantity uint16
	// Points are indexes into the profile's Points; Offsets the register
	// offset of each within this read.
	Points  []int
	Offsets []int
}

// Plan merges the profile's points into as few reads as its limits allow:
// points of one table whose registers lie at most MaxGap apart share a read
// of at most MaxRegisters registers. With MaxRegisters equal to a point's
// size every point gets its own request (the escape hatch for devices that
// reject reads spanning unmapped registers). The plan is made once, at
// start-up.
func (p *Profile) Plan() []Read {
	idx := make([]int, len(p.Points))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		pa, pb := &p.Points[idx[a]], &p.Points[idx[b]]
		if pa.table != pb.table {
			return pa.table < pb.table
		}
		return pa.Address < pb.Address
	})
	var reads []Read
	for _, i := range idx {
		pt := &p.Points[i]
		end := pt.Address + pt.Words()
		if n := len(reads); n > 0 {
			r := &reads[n-1]
			rEnd := int(r.Address) + int(r.Quantity)
			if r.Table == pt.table && pt.Address-rEnd <= p.MaxGap && max(end, rEnd)-int(r.Address) <= p.MaxRegisters {
				r.Points = append(r.Points, i)
				r.Offsets = append(r.Offsets, pt.Address-int(r.Address))
				r.Quantity = uint16(max(end, rEnd) - int(r.Address))
				continue
			}
		}
		reads = append(reads, Read{
			Table: pt.table, Address: uint16(pt.Address), Quantity: uint16(pt.Words()),
			Points: []int{i}, Offsets: []int{0},
		})
	}
	return reads
}
