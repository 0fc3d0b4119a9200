// Where a device finds its operator. Today an operator's data folder (the embedded mode, every
// role in this process); network operators (https://) come with the network layer.
#pragma once

#include <memory>
#include <string>

#include "base/clock.hpp"
#include "base/id.hpp"
#include "local/local_operator.hpp"

namespace ecash::app {

Result<std::unique_ptr<local::LocalOperator>> open_operator_at(const std::string& location,
                                                               const Clock& clock,
                                                               RandomSource& random);

}  // namespace ecash::app
