#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
#include <hdf5.h>

// HDF5's property-list, access-flag and native-type names are macros that Swift
// cannot import; these functions expose their values.

static inline hid_t CHDF5_P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t CHDF5_S_ALL(void) { return H5S_ALL; }
static inline hid_t CHDF5_E_DEFAULT(void) { return H5E_DEFAULT; }
static inline unsigned CHDF5_F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned CHDF5_F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline hid_t CHDF5_T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t CHDF5_T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t CHDF5_T_C_S1(void) { return H5T_C_S1; }
static inline hid_t CHDF5_T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t CHDF5_T_STD_I32LE(void) { return H5T_STD_I32LE; }

/// Silences HDF5's own error printing; errors are read from the stack instead.
static inline void CHDF5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// Whether a link of this name exists directly in the group.
static inline int CHDF5_link_exists(hid_t group, const char *name) {
    return H5Lexists(group, name, H5P_DEFAULT) > 0;
}

/// The object type (H5I_GROUP, H5I_DATASET, ...) of a group member, or H5I_BADID.
static inline H5I_type_t CHDF5_member_type(hid_t group, const char *name) {
    hid_t object = H5Oopen(group, name, H5P_DEFAULT);
    if (object < 0) return H5I_BADID;
    H5I_type_t type = H5Iget_type(object);
    H5Oclose(object);
    return type;
}
#endif
