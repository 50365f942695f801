import { crc32, deflateSync } from 'node:zlib'
import { ICON_BRAND_COLOR } from './definition.js'

/** The connector's icon size, as Microsoft asks for it. */
export const ICON_SIZE = 230

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

function rgb(hex: string): [number, number, number] {
  const value = Number.parseInt(hex.slice(1), 16)
  return [value >> 16, (value >> 8) & 255, value & 255]
}

/**
 * icon.png: 230×230, opaque, the brand colour with a white parcel (a box with its tape), drawn
 * pixel by pixel so it is generated, deterministic, and needs no image tooling.
 */
export function connectorIcon(): Buffer {
  const background = rgb(ICON_BRAND_COLOR)
  const white: [number, number, number] = [255, 255, 255]
  const rows: Buffer[] = []
  for (let y = 0; y < ICON_SIZE; y++) {
    const row = Buffer.alloc(1 + ICON_SIZE * 3)
    for (let x = 0; x < ICON_SIZE; x++) {
      const inBox = x >= 55 && x < 175 && y >= 65 && y < 175
      const outline = inBox && (x < 63 || x >= 167 || y < 73 || y >= 167 || (y >= 100 && y < 106))
      const tape = inBox && x >= 107 && x < 123 && y < 106
      const colour = outline || tape ? white : background
      row.set(colour, 1 + x * 3)
    }
    rows.push(row)
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(ICON_SIZE, 0)
  header.writeUInt32BE(ICON_SIZE, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // colour type: truecolour, no alpha (opaque)
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}
