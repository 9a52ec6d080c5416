// Distinct n-grams per sequence, exactly: of token ids, or of the whitespace words of ASCII text.
//
// NGRAM (the n) is defined when the program is built, so that the loops over an n-gram's units
// unroll. Work-item w owns rows [w * rows_per_item, (w + 1) * rows_per_item) and its own stretch
// of every scratch buffer, sized by the host for the longest row.
//
// Counting goes in rounds, without a branch per n-gram (a table that probes until it finds an
// empty slot mispredicts a branch for a good share of the n-grams). In a round, every pending
// n-gram writes its index to the slot its hash picks, in a table at least four times larger than
// the round's n-grams, and reads back the index that remained: each slot won is one distinct
// n-gram (equal n-grams hash alike); an n-gram equal to its slot's winner is a repeat; one that
// differs lost its slot to another n-gram and waits for the next round, which hashes with
// another multiplier. Every round resolves its winners, so the rounds end; hashes decide only
// where n-grams meet, and the count equals a Python set's whatever they are.
//
// The work is bound by instructions, not memory (a row's scratch stays in the core's cache), so
// the helpers are forced inline and the per-word work is kept free of branches.

#ifndef NGRAM
#error "build with -D NGRAM=<n>"
#endif

#define INLINE inline __attribute__((always_inline))
#define FIRST_MULTIPLIER 0x9E3779B1u
#define LOWS 0x0101010101010101UL
#define HIGHS 0x8080808080808080UL

// The shift that leaves the top bits of a 32-bit hash addressing a table of at least four
// slots per n-gram.
INLINE uint table_shift(uint count) {
    uint bits = 2;
    while ((1u << bits) < 4 * count) ++bits;
    return 32 - bits;
}

// Another odd multiplier for the next round.
INLINE uint next_multiplier(uint multiplier) { return multiplier * 0x2545F491u + 0x6A09E666u; }

// ---------------------------------------------------------------------------------------------
// Units. Ids are their own units; a word is a unit through a 32-bit fold of its first and last
// eight bytes and its length, which together are the word when it has at most sixteen bytes
// (longer words are compared byte by byte when the rest agrees).

INLINE uint ngram_hash(__global const uint *units, int at, uint multiplier) {
    uint h = units[at] * multiplier;
    #pragma unroll
    for (int k = 1; k < NGRAM; ++k) h = (h + units[at + k]) * multiplier;
    return h;
}

INLINE int same_units(__global const uint *units, uint a, uint b) {
    int same = 1;
    #pragma unroll
    for (int k = 0; k < NGRAM; ++k) same &= units[a + k] == units[b + k];
    return same;
}

// An eight-byte word at any byte address: one unaligned load (vload8 of uchar compiles to four
// two-byte loads and shuffles).
typedef struct __attribute__((packed)) {
    ulong value;
} Unaligned;

// The eight bytes from byte `at` (the host pads the text with eight zero bytes).
INLINE ulong load8(__global const uchar *text, ulong at) {
    return ((__global const Unaligned *)(text + at))->value;
}

// Eight bytes with A-Z lowered where `case_bits` is 0x20 in every byte (0 leaves them as they
// are); the bytes are ASCII, so no byte carries into the next.
INLINE ulong lowered(ulong bytes, ulong case_bits) {
    const ulong at_least_a = bytes + 0x3F * LOWS;  // high bit set where the byte is >= 'A'
    const ulong above_z = bytes + 0x25 * LOWS;     // high bit set where the byte is > 'Z'
    return bytes | (((at_least_a & ~above_z & HIGHS) >> 2) & case_bits);
}

// The first `count` (1-8) of the eight bytes, the rest zero.
INLINE ulong first_bytes(ulong bytes, uint count) {
    return bytes & (~0UL >> (64 - 8 * count));
}

// Bit j: byte j of the eight is one of Python's str.split() separators among ASCII (\t \n \v
// \f \r, \x1c-\x1f and the space, i.e. bytes 9-13 and 28-32).
INLINE ulong separator_bits(ulong bytes) {
    const ulong at_least_21 = bytes + 0x5F * LOWS;
    const ulong at_least_09 = bytes + 0x77 * LOWS;
    const ulong at_least_0e = bytes + 0x72 * LOWS;
    const ulong at_least_1c = bytes + 0x64 * LOWS;
    const ulong separators = ~at_least_21 & at_least_09 & (~at_least_0e | at_least_1c) & HIGHS;
    return ((separators >> 7) * 0x0102040810204080UL) >> 56;  // the eight flags, packed
}

// 64 bits from bit `at` of a bit stream stored in aligned words (with a word to spare after).
INLINE ulong load64(__global const ulong *bits, ulong at) {
    const uint shift = (uint)(at & 63);
    const ulong low = bits[at >> 6], high = bits[(at >> 6) + 1];
    return (low >> shift) | ((high << 1) << (63 - shift));
}

// The words of a row: where each starts, its length, its first eight bytes (lowered; fewer,
// zero-padded, for a shorter word) and its last eight (zero for a word of up to eight).
typedef struct {
    __global const uchar *text;  // the row's bytes
    __global const uint *starts;
    __global const uint *lengths;
    __global const ulong *heads;
    __global const ulong *tails;
    ulong case_bits;
} Words;

// Whether the bytes of words a and b between their first and last eight agree (the words are
// longer than sixteen bytes and of the same length).
INLINE int same_middle(const Words *words, uint length, uint a, uint b) {
    for (uint offset = 8; offset < length - 8; offset += 8) {
        const uint count = min(length - 8 - offset, 8u);
        const ulong one = lowered(load8(words->text, words->starts[a] + offset),
                                  words->case_bits);
        const ulong other = lowered(load8(words->text, words->starts[b] + offset),
                                    words->case_bits);
        if (first_bytes(one ^ other, count)) return 0;
    }
    return 1;
}

// Whether the n-grams at a and b are equal: of ids (`words` null), or of words, whose units
// are their folds.
INLINE int same_ngram(__global const uint *units, const Words *words, uint a, uint b) {
    if (a == b) return 1;  // most n-grams win their slot: decided without a load
    int same = same_units(units, a, b);
    if (!words || !same) return same;
    #pragma unroll
    for (int k = 0; k < NGRAM; ++k) {
        same &= (words->heads[a + k] == words->heads[b + k])
                & (words->tails[a + k] == words->tails[b + k])
                & (words->lengths[a + k] == words->lengths[b + k]);
    }
    for (int k = 0; k < NGRAM && same; ++k) {
        if (words->lengths[a + k] > 16) {
            same = same_middle(words, words->lengths[a + k], a + k, b + k);
        }
    }
    return same;
}

// ---------------------------------------------------------------------------------------------
// The rounds.

// The number of distinct n-grams among the `count` starting at 0, 1, ... of `units`; the
// scratch holds `count` entries (`slots`, `pending`, `spare`) and 4 * count rounded up to a
// power of two (`table`); `words` as same_ngram's.
//
// Each round first lists the n-grams that did not win their slot, in a loop without a branch
// or a comparison of units, then keeps those of them that differ from their slot's winner:
// only the few that lost are compared.
INLINE int distinct_ngrams(__global const uint *units, const Words *words, uint count,
                           __global uint *slots, __global uint *pending, __global uint *spare,
                           __global uint *table) {
    uint multiplier = FIRST_MULTIPLIER;
    uint shift = table_shift(count);
    // Eight n-grams at a time (one AVX2 register of 32-bit lanes), the rest one by one.
    const int whole = (int)count & ~7;
    for (int i = 0; i < whole; i += 8) {
        uint8 h = vload8(0, units + i) * multiplier;
        #pragma unroll
        for (int k = 1; k < NGRAM; ++k) h = (h + vload8(0, units + i + k)) * multiplier;
        vstore8(h >> shift, 0, slots + i);
    }
    for (int i = whole; i < (int)count; ++i) slots[i] = ngram_hash(units, i, multiplier) >> shift;
    for (uint i = 0; i < count; ++i) table[slots[i]] = i;
    uint lost = 0;
    for (uint i = 0; i < count; ++i) {
        pending[lost] = i;
        lost += table[slots[i]] != i;
    }
    int found = count - lost;
    uint left = 0;
    for (uint j = 0; j < lost; ++j) {
        const uint i = pending[j];
        pending[left] = i;
        left += !same_ngram(units, words, table[slots[i]], i);
    }
    while (left > 0) {
        multiplier = next_multiplier(multiplier);
        shift = table_shift(left);
        for (uint j = 0; j < left; ++j) {
            slots[j] = ngram_hash(units, pending[j], multiplier) >> shift;
        }
        for (uint j = 0; j < left; ++j) table[slots[j]] = j;
        uint still = 0;
        for (uint j = 0; j < left; ++j) {
            const uint winner = table[slots[j]];
            found += winner == j;
            spare[still] = pending[j];
            still += !same_ngram(units, words, pending[winner], pending[j]);
        }
        __global uint *swap = pending;
        pending = spare;
        spare = swap;
        left = still;
    }
    return found;
}

// ---------------------------------------------------------------------------------------------
// Kernels.

__kernel void id_ngram_counts(__global const uint *restrict ids,
                              __global const long *restrict offsets, const int rows,
                              const int rows_per_item, const long ngrams_per_item,
                              const long table_per_item, __global uint *restrict slots,
                              __global uint *restrict pending, __global uint *restrict spare,
                              __global uint *restrict table, __global int *restrict unique,
                              __global int *restrict total) {
    const int item = get_global_id(0);
    const int last = min((item + 1) * rows_per_item, rows);
    slots += item * ngrams_per_item;
    pending += item * ngrams_per_item;
    spare += item * ngrams_per_item;
    table += item * table_per_item;
    for (int row = item * rows_per_item; row < last; ++row) {
        const long length = offsets[row + 1] - offsets[row];
        const uint count = length >= NGRAM ? (uint)(length - NGRAM + 1) : 0;
        total[row] = count;
        unique[row] = count ? distinct_ngrams(ids + offsets[row], 0, count, slots, pending,
                                              spare, table)
                            : 0;
    }
}

// The ASCII rows' whitespace words (Python's text.lower().split() with `lowercase`,
// text.split() without) and their distinct n-grams. The text is aligned to eight bytes.
__kernel void word_ngram_counts(__global const ulong *restrict text,
                                __global const long *restrict offsets, const int rows,
                                const int lowercase, const int rows_per_item,
                                const long separator_stride, const long words_per_item,
                                const long table_per_item, __global uchar *restrict separators,
                                __global ulong *restrict heads, __global ulong *restrict tails,
                                __global uint *restrict folds, __global uint *restrict starts,
                                __global uint *restrict lengths, __global uint *restrict slots,
                                __global uint *restrict pending, __global uint *restrict spare,
                                __global uint *restrict table, __global int *restrict unique,
                                __global int *restrict total) {
    const int item = get_global_id(0);
    const int first_row = item * rows_per_item;
    const int last = min(first_row + rows_per_item, rows);
    if (first_row >= last) return;
    const ulong case_bits = lowercase ? 0x20 * LOWS : 0;
    separators += item * separator_stride;  // a bit per byte: 1 for a separator
    heads += item * words_per_item;
    tails += item * words_per_item;
    folds += item * words_per_item;  // the units hashed
    starts += item * words_per_item;
    lengths += item * words_per_item;  // the ends, until the lengths replace them
    slots += item * words_per_item;
    pending += item * words_per_item;
    spare += item * words_per_item;
    table += item * table_per_item;
    // The separator bits of the item's text, eight bytes at a time, from the aligned word
    // that holds its first byte.
    const ulong base = offsets[first_row] >> 3, end = (offsets[last] + 7) >> 3;
    for (ulong word = base; word < end; ++word) {
        separators[word - base] = (uchar)separator_bits(text[word]);
    }
    __global const ulong *bits_of = (__global const ulong *)separators;
    for (int row = first_row; row < last; ++row) {
        __global const uchar *chars = (__global const uchar *)text + offsets[row];
        const ulong first_bit = offsets[row] - 8 * base;
        const uint size = (uint)(offsets[row + 1] - offsets[row]);
        const uint blocks = (size + 63) / 64;
        // A word starts at a non-separator after a separator (or at the row's start) and ends
        // at the first separator after it (or at the row's end, past which the bits are set).
        uint words = 0, ends = 0;
        ulong before = 1;  // whether the byte before the block's first is a separator
        for (uint block = 0; block < blocks; ++block) {
            ulong bits = load64(bits_of, first_bit + 64 * block);
            const uint inside = size - 64 * block;
            if (inside < 64) bits |= ~0UL << inside;
            const ulong previous = (bits << 1) | before;
            before = bits >> 63;
            for (ulong first = ~bits & previous; first; first &= first - 1) {
                starts[words++] = block * 64 + (uint)ctz(first);
            }
            for (ulong after = bits & ~previous; after; after &= after - 1) {
                lengths[ends++] = block * 64 + (uint)ctz(after);
            }
        }
        if (ends < words) lengths[ends] = size;
        for (uint w = 0; w < words; ++w) {
            const uint start = starts[w], length = lengths[w] - start;
            const ulong head = first_bytes(lowered(load8(chars, start), case_bits),
                                           min(length, 8u));
            // The eight bytes ending the word (zero for a word of up to eight).
            const ulong last_eight = lowered(load8(chars, max(start + length, 8u) - 8),
                                             case_bits);
            const ulong tail = length > 8 ? last_eight : 0;
            const ulong mixed = (head * 0x9E3779B97F4A7C15UL ^ tail) * 0xFF51AFD7ED558CCDUL;
            lengths[w] = length;
            heads[w] = head;
            tails[w] = tail;
            folds[w] = (uint)(mixed >> 32) + length;
        }
        const uint count = words >= NGRAM ? words - NGRAM + 1 : 0;
        total[row] = count;
        const Words layout = {chars, starts, lengths, heads, tails, case_bits};
        unique[row] = count ? distinct_ngrams(folds, &layout, count, slots, pending, spare, table)
                            : 0;
    }
}
