/*-------------------------------------------------------------------------
 * encoding.h
 *	  Byte-level value encodings shared by the fragment writer and reader.
 *
 * Everything here turns arrays of integers, floats or values into bytes and
 * back.  Encoders cannot fail.  Decoders take a DecodeCursor over untrusted
 * bytes and return false when the bytes are inconsistent; they never read
 * outside [p, end + ENCODING_READ_PADDING) and the caller turns false into
 * an ERROR that names the file and offset.
 *
 * Integer stream ("int stream"), the building block of most encodings:
 *
 *	 u8 mode, u8 bit width, i64 base, [i64 min delta], packed values
 *
 * mode FOR: value[i] = base + packed[i] (frame of reference); mode DELTA:
 * value[0] = base, value[i] = value[i - 1] + min delta + packed[i - 1].
 * Arithmetic wraps modulo 2^64, so any int64 sequence round-trips.  A bit
 * width of 0 stores a constant (or an arithmetic progression) in 10 or 18
 * bytes.  Packed values are little-endian bit streams, LSB first.
 *
 * Decimal floats: a float that is a short decimal (lat/lon with 6 digits,
 * money with 2) is stored as round(v * 10^e) with the smallest exponent e of
 * the page for which dividing back gives the same bits for every value.
 *
 * IDENTIFICATION
 *	  src/format/encoding.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_ENCODING_H
#define COMPACT_FORMAT_ENCODING_H

/*
 * Decoders may read (and ignore) up to this many bytes past the end of the
 * data they were given; buffers handed to them must have that much slack.
 */
#define ENCODING_READ_PADDING	16

#define ENCODING_INT_FOR		0
#define ENCODING_INT_DELTA		1

/* largest decimal exponent of decimal floats */
#define ENCODING_MAX_DECIMAL_EXPONENT	15

/* A growable output buffer; data lives in the context it was created in. */
typedef struct EncodeBuffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
} EncodeBuffer;

/* Untrusted input: [p, end), with ENCODING_READ_PADDING readable after end. */
typedef struct DecodeCursor
{
	const char *p;
	const char *end;
} DecodeCursor;

extern const double encoding_pow10[ENCODING_MAX_DECIMAL_EXPONENT + 1];

/* encoding.c: buffers */
extern void EncodeBufferInit(EncodeBuffer *buf, size_t cap);
extern void EncodeBufferGrow(EncodeBuffer *buf, size_t extra);
extern void EncodeBufferAppend(EncodeBuffer *buf, const void *data, size_t len);

static inline void
EncodeBufferReserve(EncodeBuffer *buf, size_t extra)
{
	if (buf->cap - buf->len < extra)
		EncodeBufferGrow(buf, extra);
}

static inline void
EncodeBufferPutU8(EncodeBuffer *buf, uint8 v)
{
	EncodeBufferReserve(buf, 1);
	buf->data[buf->len++] = (char) v;
}

static inline void
EncodeBufferPutU16(EncodeBuffer *buf, uint16 v)
{
	EncodeBufferAppend(buf, &v, sizeof(v));
}

static inline void
EncodeBufferPutU32(EncodeBuffer *buf, uint32 v)
{
	EncodeBufferAppend(buf, &v, sizeof(v));
}

static inline void
EncodeBufferPutU64(EncodeBuffer *buf, uint64 v)
{
	EncodeBufferAppend(buf, &v, sizeof(v));
}

/* encoding.c: reading fixed-size fields; false when the input is too short */
extern bool DecodeBytes(DecodeCursor *in, void *dst, size_t len);
extern bool DecodeSkip(DecodeCursor *in, size_t len, const char **start);

static inline size_t
DecodeRemaining(const DecodeCursor *in)
{
	return (size_t) (in->end - in->p);
}

static inline bool
DecodeU8(DecodeCursor *in, uint8 *v)
{
	return DecodeBytes(in, v, sizeof(*v));
}

static inline bool
DecodeU16(DecodeCursor *in, uint16 *v)
{
	return DecodeBytes(in, v, sizeof(*v));
}

static inline bool
DecodeU32(DecodeCursor *in, uint32 *v)
{
	return DecodeBytes(in, v, sizeof(*v));
}

static inline bool
DecodeU64(DecodeCursor *in, uint64 *v)
{
	return DecodeBytes(in, v, sizeof(*v));
}

/* encoding.c: bit packing */
extern int	EncodingBitWidth(uint64 maxval);
extern void EncodingPackBits(EncodeBuffer *out, const uint64 *vals, int n,
							 int width);
extern bool EncodingUnpackBits(DecodeCursor *in, int n, int width,
							   uint64 *out);

/* encoding.c: integer streams */
extern size_t EncodingIntStreamSize(const int64 *vals, int n);
extern void EncodeIntStream(EncodeBuffer *out, const int64 *vals, int n);
extern bool DecodeIntStream(DecodeCursor *in, int n, uint64 *out);

/* encoding.c: decimal floats */
extern int	EncodingDecimalFloat8(const double *vals, int n, int64 *scaled);
extern int	EncodingDecimalFloat4(const float4 *vals, int n, int64 *scaled);

/* encoding.c: one value as bytes (statistics), by type layout */
extern bool EncodingTypeIsValid(int16 typlen, bool typbyval, char typalign);
extern size_t EncodingValueSize(Datum value, int16 typlen, bool typbyval);
extern void EncodingValueAppend(EncodeBuffer *buf, Datum value,
								int16 typlen, bool typbyval);
extern bool EncodingValueRead(const char *bytes, size_t len, int16 typlen,
							  bool typbyval, Datum *value);

#endif							/* COMPACT_FORMAT_ENCODING_H */
