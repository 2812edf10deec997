#!/usr/bin/python3
"""A third-party Modbus server for eipgw's interoperability tests (pymodbus 3.0).

Serves unit 1 over Modbus TCP, RTU over TCP, or RTU on a serial device.
Register layout (0-based protocol addresses), values encoded by pymodbus's
own BinaryPayloadBuilder, never by eipgw:

  holding 100*k + 0    int16   -12345        k = 0 ABCD, 1 CDAB, 2 BADC, 3 DCBA
          100*k + 10   uint16  43981
          100*k + 20   int32   -123456789
          100*k + 30   uint32  3000000000
          100*k + 40   int64   -1234567890123
          100*k + 50   uint64  17375808098319187968
          100*k + 60   float32 123.456
          100*k + 70   float64 123.456
  holding 400 + 24*k + 4*i   the 64-bit integers of EXACT (i), in order k:
          extremes and values a float64 cannot hold
  holding 500          answers 0.6 s late (LATE_SECONDS)
  input   0..9         1000 + address
  coils   0..15        on where address % 3 == 0
  discrete 0..15       on where address is odd
Every table ends at address 599: reads beyond answer exception 2.
"""
import argparse
import logging
import sys
import time

from pymodbus.constants import Endian
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.payload import BinaryPayloadBuilder
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

LATE_ADDRESS = 500
LATE_SECONDS = 0.6
SIZE = 600

ORDERS = [  # (byteorder, wordorder) for ABCD, CDAB, BADC, DCBA
    (Endian.Big, Endian.Big),
    (Endian.Big, Endian.Little),
    (Endian.Little, Endian.Big),
    (Endian.Little, Endian.Little),
]

VALUES = [
    (0, "add_16bit_int", -12345),
    (10, "add_16bit_uint", 43981),
    (20, "add_32bit_int", -123456789),
    (30, "add_32bit_uint", 3000000000),
    (40, "add_64bit_int", -1234567890123),
    (50, "add_64bit_uint", 17375808098319187968),
    (60, "add_32bit_float", 123.456),
    (70, "add_64bit_float", 123.456),
]

EXACT = [
    ("add_64bit_int", -2**63),
    ("add_64bit_int", 2**63 - 1),
    ("add_64bit_int", 2**53 + 1),
    ("add_64bit_int", -(2**53 + 1)),
    ("add_64bit_uint", 2**64 - 1),
    ("add_64bit_uint", 9007199254740993),
]


class LateBlock(ModbusSequentialDataBlock):
    """Holding registers; a read covering LATE_ADDRESS answers late."""

    def getValues(self, address, count=1):
        # The context adds 1 to protocol addresses unless zero_mode.
        if address <= LATE_ADDRESS < address + count:
            time.sleep(LATE_SECONDS)
        return super().getValues(address, count)


def holding():
    regs = [0] * SIZE
    for k, (byteorder, wordorder) in enumerate(ORDERS):
        for offset, method, value in VALUES:
            b = BinaryPayloadBuilder(byteorder=byteorder, wordorder=wordorder)
            getattr(b, method)(value)
            words = b.to_registers()
            regs[100 * k + offset: 100 * k + offset + len(words)] = words
        for i, (method, value) in enumerate(EXACT):
            b = BinaryPayloadBuilder(byteorder=byteorder, wordorder=wordorder)
            getattr(b, method)(value)
            regs[400 + 24 * k + 4 * i: 400 + 24 * k + 4 * i + 4] = b.to_registers()
    regs[LATE_ADDRESS] = 0x5A5A
    return regs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["tcp", "rtu-over-tcp", "rtu"], required=True)
    p.add_argument("--port", type=int, default=0, help="TCP port")
    p.add_argument("--serial", default="", help="serial device for rtu")
    p.add_argument("--baud", type=int, default=19200)
    # A pseudo-terminal refuses parity settings: 8N1 there.
    p.add_argument("--parity", default="N")
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    store = ModbusSlaveContext(
        hr=LateBlock(0, holding()),
        ir=ModbusSequentialDataBlock(0, [1000 + a if a < 10 else 0 for a in range(SIZE)]),
        co=ModbusSequentialDataBlock(0, [a % 3 == 0 and a < 16 for a in range(SIZE)]),
        di=ModbusSequentialDataBlock(0, [a % 2 == 1 and a < 16 for a in range(SIZE)]),
        zero_mode=True,
    )
    context = ModbusServerContext(slaves={1: store}, single=False)
    print("ready", flush=True)
    if args.mode == "rtu":
        StartSerialServer(context=context, framer=ModbusRtuFramer, port=args.serial,
                          baudrate=args.baud, bytesize=8, parity=args.parity, stopbits=1, timeout=0.005)
    else:
        framer = ModbusSocketFramer if args.mode == "tcp" else ModbusRtuFramer
        StartTcpServer(context=context, framer=framer, address=("127.0.0.1", args.port))


if __name__ == "__main__":
    main()
