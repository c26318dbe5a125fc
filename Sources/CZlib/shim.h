// The system zlib (the one compress-nio links), for its CRC-32: the cassette index and gzip members are checked
// with it.
#include <zlib.h>
