package modbus

import "sort"

// Read is one planned Modbus request and the points it serves.
type Read struct {
	Table Table
	// Address is the protocol (0-based) address; Quantity counts registers,
	// or bits in the coil and discrete tables.
	Address  uint16
	Quantity uint16
	// Points are indexes into the profile's Points; Offsets the register
	// (or bit) offset of each within this read.
	Points  []int
	Offsets []int
}

// Plan merges the profile's points into as few reads as its limits allow:
// points of one table whose registers (or bits) lie at most MaxGap apart
// share a read of at most MaxRegisters registers (MaxBits bits). With MaxRegisters equal to a point's
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
		return pa.reg < pb.reg
	})
	var reads []Read
	for _, i := range idx {
		pt := &p.Points[i]
		end := pt.reg + pt.Words()
		limit := p.MaxRegisters
		if pt.table.Bits() {
			limit = p.MaxBits
		}
		if n := len(reads); n > 0 {
			r := &reads[n-1]
			rEnd := int(r.Address) + int(r.Quantity)
			if r.Table == pt.table && pt.reg-rEnd <= p.MaxGap && max(end, rEnd)-int(r.Address) <= limit {
				r.Points = append(r.Points, i)
				r.Offsets = append(r.Offsets, pt.reg-int(r.Address))
				r.Quantity = uint16(max(end, rEnd) - int(r.Address))
				continue
			}
		}
		reads = append(reads, Read{
			Table: pt.table, Address: uint16(pt.reg), Quantity: uint16(pt.Words()),
			Points: []int{i}, Offsets: []int{0},
		})
	}
	return reads
}

// dataLen is the number of data bytes in the answer to r: two a register,
// or one a started eight bits.
func (r *Read) dataLen() int {
	if r.Table.Bits() {
		return (int(r.Quantity) + 7) / 8
	}
	return 2 * int(r.Quantity)
}
