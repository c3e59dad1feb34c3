# Vivado batch script: the PYNQ-Z2 overlay around the streamcnn accelerator.
#
#   vivado -mode batch -source vivado.tcl -tclargs <build dir> <output dir> <name> <jobs> [<ip name>]
#
# Block design: Zynq PS7 (FCLK0 100 MHz, M_AXI_GP0 for control, S_AXI_HP0 64-bit
# for data), an AXI DMA in simple mode (no scatter-gather, 26-bit length register,
# 64-bit memory and stream widths) at 0x40400000, and streamcnn_top (from
# hls.tcl's IP export) at 0x43C00000, its program stream fed by MM2S and its
# answer going to S2MM.  After implementation, <name>.bit and <name>.hwh are
# copied side by side into <output dir>, as pynq expects them.
#
# The Vivado version is pinned (2022.1: PYNQ 3.0 images); set STREAMCNN_VIVADO_VERSION
# to build with another (2024.1 for PYNQ 3.1 images, see bitstreams/README.md).

set script_dir [file dirname [file normalize [info script]]]
set build [file normalize [lindex $argv 0]]
set output [file normalize [lindex $argv 1]]
set name [lindex $argv 2]
set jobs [lindex $argv 3]
# The accelerator's IP name (hls.tcl: streamcnn_top, or streamcnn_top_<config>)
set ipname streamcnn_top
if {[llength $argv] >= 5} { set ipname [lindex $argv 4] }

set expected_version 2022.1
if {[info exists ::env(STREAMCNN_VIVADO_VERSION)]} { set expected_version $::env(STREAMCNN_VIVADO_VERSION) }
set found_version [version -short]
if {[string first $expected_version $found_version] != 0} {
    puts stderr "vivado.tcl: this overlay is pinned to Vivado $expected_version, found $found_version."
    puts stderr "Set STREAMCNN_VIVADO_VERSION=$found_version to build anyway (see bitstreams/README.md)."
    exit 1
}

set part xc7z020clg400-1
set bd streamcnn
set ip_repo [file join $build hls solution1 impl ip]
if {![file exists [file join $ip_repo component.xml]]} {
    puts stderr "vivado.tcl: no HLS IP in $ip_repo; run hls.tcl first (make ip)"
    exit 1
}

create_project -force $bd [file join $build vivado] -part $part
set_property ip_repo_paths [list $ip_repo] [current_project]
update_ip_catalog
create_bd_design $bd

# -- Zynq PS7, configured explicitly (no board files needed) -----------------------
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7:5.5 processing_system7_0]
set_property -dict [list \
    CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ {50} \
    CONFIG.PCW_UIPARAM_DDR_PARTNO {MT41K256M16 RE-125} \
    CONFIG.PCW_UIPARAM_DDR_BUS_WIDTH {16 Bit} \
    CONFIG.PCW_UIPARAM_DDR_FREQ_MHZ {533.333333} \
    CONFIG.PCW_UART0_PERIPHERAL_ENABLE {1} \
    CONFIG.PCW_UART0_UART0_IO {MIO 14 .. 15} \
    CONFIG.PCW_EN_CLK0_PORT {1} \
    CONFIG.PCW_EN_RST0_PORT {1} \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {100} \
    CONFIG.PCW_USE_M_AXI_GP0 {1} \
    CONFIG.PCW_USE_S_AXI_HP0 {1} \
    CONFIG.PCW_S_AXI_HP0_DATA_WIDTH {64} \
] $ps
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
    -config {make_external "FIXED_IO, DDR" Master "Disable" Slave "Disable"} $ps

# -- AXI DMA: simple mode, 26-bit length, 64-bit everywhere ------------------------------
set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 axi_dma_0]
set_property -dict [list \
    CONFIG.c_include_sg {0} \
    CONFIG.c_sg_length_width {26} \
    CONFIG.c_m_axi_mm2s_data_width {64} \
    CONFIG.c_m_axis_mm2s_tdata_width {64} \
    CONFIG.c_m_axi_s2mm_data_width {64} \
    CONFIG.c_s_axis_s2mm_tdata_width {64} \
    CONFIG.c_mm2s_burst_size {16} \
    CONFIG.c_s2mm_burst_size {16} \
] $dma

# -- the accelerator ---------------------------------------------------------------------
set acc [create_bd_cell -type ip -vlnv xilinx.com:hls:$ipname:1.0 streamcnn_top_0]
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] [get_bd_intf_pins streamcnn_top_0/prog_in]
connect_bd_intf_net [get_bd_intf_pins streamcnn_top_0/resp_out] [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]

# -- buses, clocks and resets (FCLK0 everywhere) ---------------------------------------------
foreach slave {axi_dma_0/S_AXI_LITE streamcnn_top_0/s_axi_control} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
        -config {Master "/processing_system7_0/M_AXI_GP0" Clk_master "Auto" Clk_slave "Auto" Clk_xbar "Auto"} \
        [get_bd_intf_pins $slave]
}
foreach master {axi_dma_0/M_AXI_MM2S axi_dma_0/M_AXI_S2MM} {
    apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
        -config {Slave "/processing_system7_0/S_AXI_HP0" Clk_master "Auto" Clk_slave "Auto" Clk_xbar "Auto"} \
        [get_bd_intf_pins $master]
}

# -- addresses the driver and its tests expect --------------------------------------------------
assign_bd_address
foreach seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces processing_system7_0/Data]] {
    if {[string match "*axi_dma_0*" $seg]} { set_property offset 0x40400000 $seg; set_property range 64K $seg }
    if {[string match "*streamcnn_top_0*" $seg]} { set_property offset 0x43C00000 $seg; set_property range 64K $seg }
}

validate_bd_design
save_bd_design

# -- implementation -------------------------------------------------------------------------
set bd_file [get_files [file join $build vivado $bd.srcs sources_1 bd $bd $bd.bd]]
make_wrapper -files $bd_file -top
add_files -norecurse [file join $build vivado $bd.gen sources_1 bd $bd hdl ${bd}_wrapper.v]
set_property top ${bd}_wrapper [current_fileset]
update_compile_order -fileset sources_1

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
set status [get_property STATUS [get_runs impl_1]]
if {[string first "write_bitstream Complete" $status] < 0} {
    puts stderr "vivado.tcl: implementation did not finish: $status"
    exit 1
}

# -- timing: nothing ships that has not met it --------------------------------------------------
# The reports go beside the overlay, so a failed build shows why and a good one says how close.
file mkdir $output
open_run impl_1
report_timing_summary -max_paths 10 -file [file join $output $name.timing.rpt]
report_utilization -file [file join $output $name.utilization.rpt]
set wns [get_property STATS.WNS [get_runs impl_1]]
set whs [get_property STATS.WHS [get_runs impl_1]]
if {![string is double -strict $wns] || ![string is double -strict $whs] || $wns < 0 || $whs < 0} {
    puts stderr "vivado.tcl: timing not met (WNS $wns ns, WHS $whs ns at 100 MHz): no overlay written;\
        see [file join $output $name.timing.rpt]"
    exit 1
}
puts "vivado.tcl: timing met, WNS $wns ns, WHS $whs ns"

# -- the overlay: .bit and .hwh with one base name ----------------------------------------------
file copy -force [file join $build vivado $bd.runs impl_1 ${bd}_wrapper.bit] [file join $output $name.bit]
file copy -force [file join $build vivado $bd.gen sources_1 bd $bd hw_handoff $bd.hwh] [file join $output $name.hwh]
puts "vivado.tcl: wrote [file join $output $name.bit] and [file join $output $name.hwh]"
exit
