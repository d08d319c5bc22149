#ifndef CLEVELDB_SHIM_H
#define CLEVELDB_SHIM_H
#include <leveldb/c.h>
#endif
