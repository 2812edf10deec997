package modbus

// Modbus exception codes (Modbus Application Protocol v1.1b3, section 7).
const (
	ExIllegalFunction   byte = 0x01
	ExIllegalAddress    byte = 0x02
	ExIllegalValue      byte = 0x03
	ExDeviceFailure     byte = 0x04
	ExBusy              byte = 0x06
	ExGatewayNoResponse byte = 0x0B
)

const (
	fcReadCoils         byte = 0x01
	fcReadDiscrete      byte = 0x02
	fcReadHolding       byte = 0x03
	fcReadInput         byte = 0x04
	maxRegistersPerRead      = 125
	maxBitsPerRead           = 2000
	exceptionFlag       byte = 0x80
)
