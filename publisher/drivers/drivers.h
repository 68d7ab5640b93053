/*
 * drivers.h - the driver structs the registry (publisher/sensor.c) lists.
 *
 * One const struct sensor_driver per file in this folder; adding a driver
 * means adding its extern here and one line in sensor.c's registry (see the
 * checklist in template.c). Nothing else includes this header.
 */
#ifndef SW_DRIVERS_H
#define SW_DRIVERS_H

#include "publisher/sensor.h"

extern const struct sensor_driver sensor_driver_dht11;
extern const struct sensor_driver sensor_driver_dht22;
extern const struct sensor_driver sensor_driver_am2302;
extern const struct sensor_driver sensor_driver_iio;
extern const struct sensor_driver sensor_driver_ds18b20;
extern const struct sensor_driver sensor_driver_sim;

#endif
