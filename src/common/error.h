/* Internal side of the error convention (see include/supermachine.h). */
#ifndef SM_COMMON_ERROR_H
#define SM_COMMON_ERROR_H

#include "supermachine.h"

/* Overrides the exit status a CLI should use for this error (126, 127, ...). Returns -1. */
int sm_error_set_status(sm_error_t *err, int exit_status);

#endif
