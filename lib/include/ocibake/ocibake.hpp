// ocibake: the whole public API in one include.
#pragma once

#include "ocibake/build.hpp"
#include "ocibake/cas.hpp"
#include "ocibake/digest.hpp"
#include "ocibake/error.hpp"
#include "ocibake/gpu.hpp"
#include "ocibake/harness.hpp"
#include "ocibake/http.hpp"
#include "ocibake/image.hpp"
#include "ocibake/layer.hpp"
#include "ocibake/lock.hpp"
#include "ocibake/oci.hpp"
#include "ocibake/recipe.hpp"
#include "ocibake/registry.hpp"
#include "ocibake/runtime.hpp"
#include "ocibake/update.hpp"
#include "ocibake/version.hpp"
